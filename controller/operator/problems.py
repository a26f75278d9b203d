"""Databricks failures as the conditions a person reads (the one mapping from ``ErrorKind`` to a reason)."""

from __future__ import annotations

from controller.databricks.errors import DatabricksFailure, ErrorKind
from controller.reconcile.outcome import Problem
from controller.reconcile.reasons import Reason


def problem_of(failure: DatabricksFailure) -> Problem:
    """The ``Synced`` (and, before a job exists, ``Ready``) condition for a failed Databricks call.

    INVALID: the settings were refused (InvalidSpec, not retried until the spec changes); UNAUTHORIZED:
    the credential (a token, an OAuth secret, a federated token) was refused; RATE_LIMITED: throttled beyond
    the SDK's retries or the hourly creation limit; GONE and TRANSIENT: ApiError, retried with backoff.
    """
    if failure.kind is ErrorKind.INVALID:
        return Problem(Reason.INVALID_SPEC, f"Databricks refused spec.settings: {failure.message}", retry=False)
    if failure.kind is ErrorKind.UNAUTHORIZED:
        return Problem(Reason.UNAUTHORIZED, f"Databricks refused the workspace's credential: {failure.message}")
    if failure.kind is ErrorKind.RATE_LIMITED:
        return Problem(Reason.RATE_LIMITED, f"Databricks is throttling this workspace, will retry: {failure.message}")
    return Problem(Reason.API_ERROR, f"Databricks API call failed, will retry: {failure.message}")


def internal_error(err: BaseException) -> Problem:
    """An unexpected exception in the controller: a bug, said to be one."""
    text = str(err).splitlines()[0][:300] if str(err) else ""
    return Problem(
        Reason.INTERNAL_ERROR,
        f"internal error in the controller ({type(err).__name__}: {text}); retried with backoff, "
        "see the controller log for the traceback",
    )
