"""Writing manifests into a directory: all-or-nothing per call, never over a different file unless told.

Used by ``dbjobs convert -o DIR`` and ``dbjobs export --to DIR``. Each file is written to a temporary file in
the same directory and renamed over its name (a rename within one directory is atomic, so a reader never
sees half a manifest). New files get mode 0666 minus the umask (0644 with the usual umask 022), as ``open``
would give them; a file replaced keeps its mode.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OverwriteError(OSError):
    """A file exists with other content and overwriting was not allowed; ``names`` lists those files."""

    def __init__(self, directory: Path, names: list[str]) -> None:
        super().__init__(
            f"{directory}: would overwrite {len(names)} different file(s): {', '.join(names)} (use --force to replace)"
        )
        self.names = names


def conflicts(directory: Path, files: dict[str, str]) -> list[str]:
    """Names among ``files`` that exist in ``directory`` with other content."""
    out = []
    for name, text in files.items():
        target = directory / name
        try:
            if target.exists() and target.read_text(encoding="utf-8") != text:
                out.append(name)
        except (OSError, UnicodeDecodeError):
            out.append(name)
    return out


def write_all(directory: Path, files: dict[str, str], *, force: bool = False) -> list[str]:
    """Write every ``{file name: text}`` or none; returns the names actually (re)written.

    Files whose current content is already ``text`` are left alone. Raises :class:`OverwriteError` (nothing
    written) when a file with other content exists and ``force`` is false, ``OSError`` on I/O trouble.
    """
    if not force and (names := conflicts(directory, files)):
        raise OverwriteError(directory, names)
    changed = {n: t for n, t in files.items() if n not in _unchanged(directory, files)}
    staged: list[tuple[str, str]] = []
    try:
        for name, text in changed.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=(directory / name).parent, prefix=f".{Path(name).name}.", suffix=".tmp")
            staged.append((tmp, name))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, _mode(directory / name))
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, name in staged:
        os.replace(tmp, directory / name)
    return list(changed)


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _mode(target: Path) -> int:
    """The mode for ``target``: its current one when it exists, else 0666 minus the umask."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _unchanged(directory: Path, files: dict[str, str]) -> set[str]:
    same = set()
    for name, text in files.items():
        try:
            if (directory / name).read_text(encoding="utf-8") == text:
                same.add(name)
        except (OSError, UnicodeDecodeError):
            continue
    return same
