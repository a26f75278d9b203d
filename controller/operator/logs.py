"""Log format of the controller process: every line about a resource names it.

``text``: kopf's one-line format with a ``[namespace/name]`` prefix on every line logged through a
handler's logger. ``json``: one JSON object per line, the resource under ``"object"``
(``{"apiVersion", "kind", "name", "uid", "namespace"}``), the level under ``"severity"``.
kopf's per-cycle "Timer … succeeded." lines are dropped: at one per resource per interval they drown
everything else, and they followed our own warning when a periodic check had failed.
"""

from __future__ import annotations

import logging

import kopf


class _DropTimerSuccess(logging.Filter):
    """Drops kopf's ``Timer 'x' succeeded.`` records (logged once per resource per poll interval)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.startswith("Timer ") and message.endswith(" succeeded."))


def configure_logging(*, level: str, fmt: str) -> None:
    """Install the root handler: ``level`` one of DEBUG/INFO/WARNING/ERROR, ``fmt`` ``text`` or ``json``."""
    kopf.configure(
        verbose=level == "DEBUG",
        log_format=kopf.LogFormat.JSON if fmt == "json" else kopf.LogFormat.FULL,
        log_prefix=fmt != "json",
        log_refkey="object",
    )
    logging.getLogger().setLevel(level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropTimerSuccess())
    # The SDK logs every retry at DEBUG with request details; keep it at INFO even under DEBUG.
    logging.getLogger("databricks.sdk").setLevel(max(logging.INFO, logging.getLevelName(level)))
