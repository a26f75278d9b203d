"""Errors the emulator answers with, in the Databricks error envelope (spec §2).

Every error leaves the server as ``HTTP <status>`` with the JSON body
``{"error_code": str, "message": str, "details": []}``. The one deliberate exception is the
invalid-token answer, whose ``error_code`` is the *number* 403, as a real workspace sends it (§2.1).
"""

from __future__ import annotations

from typing import Any

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
MALFORMED_REQUEST = "MALFORMED_REQUEST"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
UNAUTHENTICATED = "UNAUTHENTICATED"


class ApiError(Exception):
    """An error response: HTTP ``status``, ``error_code`` (usually a string), ``message``.

    ``headers`` are extra response headers (e.g. ``Retry-After`` in whole seconds).
    """

    def __init__(
        self,
        status: int,
        error_code: str | int,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        # KeyError subclasses would otherwise print repr(message).
        return self.message

    def body(self) -> dict[str, Any]:
        """The JSON envelope (§2.1): ``{"error_code", "message", "details": []}``."""
        return {"error_code": self.error_code, "message": self.message, "details": []}


def invalid(message: str) -> ApiError:
    """400 ``INVALID_PARAMETER_VALUE``, the code of every validation failure (§4.4)."""
    return ApiError(400, INVALID_PARAMETER_VALUE, message)


class JobDoesNotExist(ApiError, KeyError):
    """The legacy Jobs not-found answer: 400 ``INVALID_PARAMETER_VALUE`` "Job <id> does not exist." (§2.3).

    The exact shape matters: on ``GET jobs/get`` the SDK turns it into ``ResourceDoesNotExist``.
    Also a ``KeyError`` so that the in-process test API can promise ``KeyError`` for a missing job.
    """

    def __init__(self, job_id: int) -> None:
        super().__init__(400, INVALID_PARAMETER_VALUE, f"Job {job_id} does not exist.")
        self.job_id = job_id


class RunDoesNotExist(ApiError, KeyError):
    """400 ``INVALID_PARAMETER_VALUE`` "Run <id> does not exist." (§2.3); also a ``KeyError``."""

    def __init__(self, run_id: int) -> None:
        super().__init__(400, INVALID_PARAMETER_VALUE, f"Run {run_id} does not exist.")
        self.run_id = run_id


def too_many_tasks_for_21(n_tasks: int) -> ApiError:
    """What API 2.1 answers for a job with more than 100 tasks (§2.4; status/code not documented, 400 assumed)."""
    return invalid(
        "Resources with more than 100 tasks can only be handled by API 2.2 and above. "
        f"Your resource has {n_tasks} tasks"
    )
