"""``python -m dbjobs_testkit`` is the same as the ``dbjobs-testkit`` console script."""

from dbjobs_testkit.cli import main

raise SystemExit(main())
