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

_JOB_MISSING = re.compile(r"Job .* does not exist")


class ErrorKind(StrEnum):
    """What a failed call means for the reconciler."""

    GONE = "gone"  # the job does not exist (deleted in the workspace)
    INVALID = "invalid"  # the settings were refused: do not retry the same generation
    UNAUTHORIZED = "unauthorized"  # token missing/expired/lacking permission: retry slowly
    TRANSIENT = "transient"  # throttling, 5xx, network: retry with backoff


def classify(err: BaseException) -> ErrorKind:
    """Map an exception raised by a databricks-sdk call to an ``ErrorKind``.

    Missing jobs arrive as ``ResourceDoesNotExist``/``NotFound`` on ``jobs/get`` but as 400
    ``InvalidParameterValue`` "Job <id> does not exist." on POST endpoints (spec §2.3); both are
    GONE. Other 4xx validation answers are INVALID. Anything unknown is TRANSIENT, because
    retrying is safe and giving up on a transient fault is not.
    """
    if isinstance(err, dberr.NotFound):
        return ErrorKind.GONE
    if isinstance(err, DatabricksError) and _JOB_MISSING.search(str(err)):
        return ErrorKind.GONE
    if isinstance(err, dberr.PermissionDenied | dberr.Unauthenticated):
        return ErrorKind.UNAUTHORIZED
    if isinstance(err, dberr.TooManyRequests | dberr.TemporarilyUnavailable | dberr.InternalError):
        return ErrorKind.TRANSIENT
    if isinstance(err, dberr.InvalidState):
        # Quota and creation-rate limits (spec §2.4) clear with time.
        return ErrorKind.TRANSIENT
    if isinstance(err, dberr.BadRequest):
        return ErrorKind.INVALID
    if isinstance(err, requests.RequestException | TimeoutError | ConnectionError):
        return ErrorKind.TRANSIENT
    return ErrorKind.TRANSIENT
