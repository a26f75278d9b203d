"""Types shared by the ``dbjobs convert`` modules.

A conversion turns one input file into zero or more :class:`JobSource` values (one per job found),
each carrying the Jobs API ``JobSettings`` mapping and the field path of the job inside the file,
plus :data:`Finding` values that become the warnings ``dbjobs convert`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Finding = tuple[str, str]
"""``(field_path, message)``; the path is in the input file's terms (``resources.jobs.x.tasks[0]``), ``""``
for the document as a whole."""


class ConversionError(Exception):
    """A file cannot be converted at all; the message names the file (and line or field when known)."""


@dataclass(frozen=True)
class JobSource:
    """One job found in an input file.

    ``settings`` is a ``JobSettings`` mapping (snake_case, as the Jobs API spells it); ``origin`` is the
    field path of the job inside the file (``""`` when the job is the whole document); ``key`` is the bundle
    resource key or, for other forms, ``None`` (the manifest name then comes from ``settings.name``);
    ``file`` is, for a job of a multi-file bundle, the file that defines it (relative to the bundle root; None:
    the input file itself); ``annotations`` are extra manifest annotations; ``permissions`` the manifest's
    ``spec.permissions`` (``[{userName | groupName | servicePrincipalName, level}]``; None: none given).
    """

    settings: dict[str, Any]
    origin: str
    key: str | None = None
    file: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    permissions: list[dict[str, str]] | None = None


def join_path(prefix: str, part: str | int) -> str:
    """Append a mapping key or a list index to a field path: ``join_path("a", 0) == "a[0]"``."""
    if isinstance(part, int):
        return f"{prefix}[{part}]"
    return f"{prefix}.{part}" if prefix else part
