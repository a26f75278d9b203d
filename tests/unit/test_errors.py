"""databricks-sdk errors are classified as the reconciler needs (spec §2.2, §2.3)."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk import errors

from controller.databricks.errors import ErrorKind, classify

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (errors.ResourceDoesNotExist("Job 1 does not exist."), ErrorKind.GONE),
        (errors.InvalidParameterValue("Job 123 does not exist."), ErrorKind.GONE),
        (errors.InvalidParameterValue("tasks[0].depends_on[0].task_key: task 'x' does not exist"), ErrorKind.INVALID),
        (errors.BadRequest("malformed"), ErrorKind.INVALID),
        (errors.TooManyRequests("slow down"), ErrorKind.TRANSIENT),
        (errors.TemporarilyUnavailable("later"), ErrorKind.TRANSIENT),
        (errors.InternalError("boom"), ErrorKind.TRANSIENT),
        (errors.InvalidState("There were already 1000 jobs created in past 3600 seconds"), ErrorKind.TRANSIENT),
        (errors.PermissionDenied("Invalid access token."), ErrorKind.UNAUTHORIZED),
        (errors.Unauthenticated("no token"), ErrorKind.UNAUTHORIZED),
        (requests.ConnectionError("refused"), ErrorKind.TRANSIENT),
        (TimeoutError("Timed out after 0:00:30"), ErrorKind.TRANSIENT),
    ],
)
def test_classify(err: BaseException, kind: ErrorKind) -> None:
    assert classify(err) is kind
