"""What the controller does when its own DatabricksJob CRD is deleted with resources present (issue 13, known
case): it releases every finalizer once and keeps the Databricks jobs (an uninstall, never a mass deletion), its
delete handler keeps the job meanwhile, and a re-installed CRD puts it back to normal. The end-to-end run is
``tests/reliability/test_known_cases.py``."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest

from controller import handlers

pytestmark = pytest.mark.unit

LIVE = {"metadata": {"name": handlers.JOB_CRD}}
DELETING = {"metadata": {"name": handlers.JOB_CRD, "deletionTimestamp": "2026-12-02T12:00:00Z"}}


class NoDeletes:
    async def delete(self, body: Any, retry: int) -> float | None:
        raise AssertionError("a Databricks job was deleted while the CRD itself was being deleted")


def test_crd_deletion_releases_every_finalizer_once_and_keeps_the_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    released: list[int] = []
    monkeypatch.setattr(handlers, "_release_all", lambda: released.append(1))
    memo = kopf.Memo(manager=NoDeletes())
    asyncio.run(handlers.job_crd_event(body=LIVE, memo=memo))  # type: ignore[arg-type]
    assert released == [] and memo["job_crd_deleting"] is False
    for _ in range(3):  # the deletion is seen on every later event of the terminating CRD: released once
        asyncio.run(handlers.job_crd_event(body=DELETING, memo=memo))  # type: ignore[arg-type]
    assert released == [1] and memo["job_crd_deleting"] is True
    asyncio.run(handlers.on_delete(body={}, retry=0, memo=memo))  # type: ignore[arg-type]
    asyncio.run(handlers.job_crd_event(body=LIVE, memo=memo))  # type: ignore[arg-type]  # re-installed
    assert memo["job_crd_deleting"] is False
