"""Optional JSON persistence of a workspace: read once at start, rewritten after every write.

The file holds ``{"format": 1, "jobs": [JobRecord...], "runs": [RunRecord...],
"idempotency_tokens": {token: run_id}, "seq": int}``. Writes go to a temporary file in the
same directory and are renamed into place, so a crash never leaves half a file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


def load_state(path: str | Path) -> dict[str, Any] | None:
    """The saved state, or None when the file does not exist (or is empty)."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return None
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise ValueError(f"{p}: not an emulator state file (format {FORMAT_VERSION})")
    return data


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the format marker) atomically to ``path``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"format": FORMAT_VERSION, **state}, indent=1, sort_keys=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
