"""Classification of databricks-sdk errors into what the reconciler does about them.

Sources: ../shared/research/jobs-api-spec.md §2 (envelope, exception mapping, the Jobs
"Job <id> does not exist." quirk) and §1.5 (what the SDK already retried before raising).
"""

from __future__ import annotations

import re
from enum import StrEnum

import requests
from databricks.sdk import errors as dberr
from databricks.sdk.errors.base import DatabricksError

#: The job a call addresses is gone: the whole message, not a field's (``tasks[1].run_job_task.job_id: Job 254 does
#: not exist.`` names a job the settings reference: those settings are invalid, found by the fault suite).
_JOB_MISSING = re.compile(r"^Job \S+ does not exist")
_RATE_LIMIT = re.compile(r"rate limit|jobs created in past", re.IGNORECASE)
#: The SDK appends its configuration to messages (``Config: host=…, token=***, auth_type=…``): noise here.
_SDK_CONFIG = re.compile(r"\.? ?Config: host=.*$", re.MULTILINE)


#: Exceptions that mean "the call to Databricks failed" (classified above); anything else raised by a call
#: is a bug in our code or the SDK's, never an API error.
API_ERRORS: tuple[type[BaseException], ...] = (
    DatabricksError,
    requests.RequestException,
    TimeoutError,
    ConnectionError,
)


class DatabricksFailure(Exception):
    """A Databricks call failed: ``kind`` says what the reconciler does, ``message`` (from :func:`describe`)
    names the host and the root cause. Raised only at the Databricks edge (``connection.py``)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def describe(err: BaseException, host: str) -> str:
    """One line a person can act on: what failed at ``host`` and the root cause (the innermost exception
    the SDK or ``requests`` chained), e.g. ``https://dbc-1.cloud.databricks.com: cannot connect
    (ConnectTimeout: …) (after retrying: Timed out after 0:00:30)``; a host that accepted the connection and
    never answered says ``no answer``. The SDK's ``Config: host=…`` tail is cut. At most 500 characters."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    root = chain[-1]
    what = _first_line(root)
    if any(isinstance(e, requests.ReadTimeout) for e in chain):
        what = f"no answer in time ({type(root).__name__}: {what})"
    elif any(isinstance(e, requests.ConnectionError | requests.Timeout | ConnectionError) for e in chain) or (
        isinstance(root, TimeoutError) and len(chain) > 1
    ):
        what = f"cannot connect ({type(root).__name__}: {what})"
    elif isinstance(root, DatabricksError):
        code = getattr(root, "error_code", None) or type(root).__name__
        what = f"{code}: {what}"
    if root is not err:
        what += f" (after retrying: {_first_line(err)})"
    return f"{host}: {what}"[:500]


def _first_line(err: BaseException) -> str:
    text = _SDK_CONFIG.sub("", str(err)).strip()
    return text.splitlines()[0] if text else type(err).__name__


class ErrorKind(StrEnum):
    """What a failed call means for the reconciler."""

    GONE = "gone"  # the job does not exist (deleted in the workspace)
    INVALID = "invalid"  # the settings were refused: do not retry the same generation
    UNAUTHORIZED = "unauthorized"  # token missing/expired/lacking permission: retry slowly
    RATE_LIMITED = "rate-limited"  # 429 beyond the SDK's retries, or the job-creation limit: back off
    TRANSIENT = "transient"  # 5xx, network, timeouts: retry with backoff


def classify(err: BaseException) -> ErrorKind:
    """Map an exception raised by a databricks-sdk call to an ``ErrorKind``.

    Missing jobs arrive as ``ResourceDoesNotExist``/``NotFound`` on ``jobs/get`` but as 400
    ``InvalidParameterValue`` "Job <id> does not exist." on POST endpoints (spec §2.3); both are
    GONE. Other 4xx validation answers are INVALID. Anything unknown is TRANSIENT, because
    retrying is safe and giving up on a transient fault is not.
    """
    if isinstance(err, TimeoutError | RuntimeError) and err.__cause__ is not None and err.__cause__ is not err:
        # The SDK gives up with TimeoutError("Timed out after …") from the last error: that error is the cause.
        return classify(err.__cause__)
    if isinstance(err, dberr.NotFound):
        return ErrorKind.GONE
    if isinstance(err, DatabricksError) and _JOB_MISSING.search(str(err)):
        return ErrorKind.GONE
    if isinstance(err, dberr.PermissionDenied | dberr.Unauthenticated):
        return ErrorKind.UNAUTHORIZED
    if isinstance(err, dberr.TooManyRequests):
        return ErrorKind.RATE_LIMITED
    if isinstance(err, dberr.InvalidState) and _RATE_LIMIT.search(str(err)):
        # The job-creation limit (at most 1000 per hour, spec §2.4): 400 INVALID_STATE "…exceeding rate limit…".
        return ErrorKind.RATE_LIMITED
    if isinstance(err, dberr.TemporarilyUnavailable | dberr.InternalError):
        return ErrorKind.TRANSIENT
    if isinstance(err, dberr.InvalidState):
        # Quotas (spec §2.4) clear with time.
        return ErrorKind.TRANSIENT
    if isinstance(err, dberr.BadRequest):
        return ErrorKind.INVALID
    if isinstance(err, requests.RequestException | TimeoutError | ConnectionError):
        return ErrorKind.TRANSIENT
    return ErrorKind.TRANSIENT
