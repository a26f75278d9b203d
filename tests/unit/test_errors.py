"""databricks-sdk errors are classified as the reconciler needs (spec §2.2, §2.3)."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk import errors

from controller.databricks.errors import ErrorKind, classify, describe

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (errors.ResourceDoesNotExist("Job 1 does not exist."), ErrorKind.GONE),
        (errors.InvalidParameterValue("Job 123 does not exist."), ErrorKind.GONE),
        (errors.InvalidParameterValue("tasks[0].depends_on[0].task_key: task 'x' does not exist"), ErrorKind.INVALID),
        (errors.InvalidParameterValue("tasks[1].run_job_task.job_id: Job 254 does not exist."), ErrorKind.INVALID),
        (errors.BadRequest("malformed"), ErrorKind.INVALID),
        (errors.TooManyRequests("slow down"), ErrorKind.RATE_LIMITED),
        (errors.TemporarilyUnavailable("later"), ErrorKind.TRANSIENT),
        (errors.InternalError("boom"), ErrorKind.TRANSIENT),
        (errors.InvalidState("There were already 1000 jobs created in past 3600 seconds"), ErrorKind.RATE_LIMITED),
        (errors.InvalidState("The job creation request is exceeding rate limit"), ErrorKind.RATE_LIMITED),
        (errors.InvalidState("The maximum number of jobs has been reached"), ErrorKind.TRANSIENT),
        (errors.PermissionDenied("Invalid access token."), ErrorKind.UNAUTHORIZED),
        (errors.Unauthenticated("no token"), ErrorKind.UNAUTHORIZED),
        (requests.ConnectionError("refused"), ErrorKind.TRANSIENT),
        (TimeoutError("Timed out after 0:00:30"), ErrorKind.TRANSIENT),
    ],
)
def test_classify(err: BaseException, kind: ErrorKind) -> None:
    assert classify(err) is kind


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def test_sdk_timeout_is_classified_by_its_cause() -> None:
    assert classify(_chained(TimeoutError("Timed out after 0:00:30"), errors.TooManyRequests("x"))) is (
        ErrorKind.RATE_LIMITED
    )
    assert classify(_chained(TimeoutError("Timed out after 0:00:30"), errors.PermissionDenied("x"))) is (
        ErrorKind.UNAUTHORIZED
    )


def test_describe_names_the_host_and_the_root_cause() -> None:
    root = requests.ConnectTimeout("connect to dbc-1.cloud.databricks.com:443 timed out")
    err = _chained(TimeoutError("Timed out after 0:00:30"), root)
    text = describe(err, "https://dbc-1.cloud.databricks.com")
    assert text.startswith("https://dbc-1.cloud.databricks.com: cannot connect (ConnectTimeout: connect to dbc-1")
    assert text.endswith("(after retrying: Timed out after 0:00:30)")
    assert describe(errors.TooManyRequests("slow down"), "h") == "h: TooManyRequests: slow down"
