"""``python -m controller`` is the same as the ``dbjobs`` console script."""

from controller.cli import main

raise SystemExit(main())
