"""Log format of the controller process: every line about a resource names it.

``text``: kopf's one-line format with a ``[namespace/name]`` prefix on every line logged through a
handler's logger. ``json``: one JSON object per line, the resource under ``"object"``
(``{"apiVersion", "kind", "name", "uid", "namespace"}``), the level under ``"severity"``.
kopf's "… succeeded." lines of its timers and watch-event handlers are dropped: one per resource per event,
they drown everything else.
"""

from __future__ import annotations

import logging

import kopf


class _DropTimerSuccess(logging.Filter):
    """Drops kopf's ``Timer 'x' succeeded.`` and ``Handler 'job_event' succeeded.`` records: logged for every
    watch event (our own status writes included), they drown everything else."""

    QUIET = ("Timer ", "Handler 'job_event'", "Handler 'workspace_event'", "Indexer 'workspaces_listed'")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.startswith(self.QUIET) and message.endswith(" succeeded."))


#: Credential values the controller has read (tokens, client ids and secrets); never printed.
_SECRETS: set[str] = set()


def never_log(value: str) -> None:
    """Have every later log line show ``[REDACTED]`` instead of ``value`` (a credential the controller read)."""
    if len(value) >= 6:
        _SECRETS.add(value)


class _Redact(logging.Filter):
    """Replaces every value :func:`never_log` registered, in the message and the traceback: a second line of
    defence behind the Secret checks (an SDK or HTTP library error can quote a header, a URL or a body)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in _SECRETS:
            message = message.replace(secret, "[REDACTED]")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "[REDACTED]")
        record.msg, record.args = message, None
        record.exc_info = None  # the text formatter and kopf's JSON formatter both print exc_text instead
        return True


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
        handler.addFilter(_Redact())
    # The SDK logs every retry at DEBUG with request details; keep it at INFO even under DEBUG.
    logging.getLogger("databricks.sdk").setLevel(max(logging.INFO, logging.getLevelName(level)))


def about(logger: logging.Logger, namespace: str, name: str, uid: str = "") -> logging.LoggerAdapter[logging.Logger]:
    """``logger`` for lines about one DatabricksJob: kopf's formatters then prefix ``[namespace/name]`` (text)
    or add the ``object`` reference (json), as for kopf's own per-object lines."""
    ref = {
        "apiVersion": "dbjobs.io/v1alpha1",
        "kind": "DatabricksJob",
        "name": name,
        "uid": uid,
        "namespace": namespace,
    }
    return logging.LoggerAdapter(logger, {"k8s_ref": ref})
