"""Driver run by an *older* databricks-sdk (its own venv, see hack/build-clients.sh) against the
emulator: create/get/list/reset/update/delete/run-now/wait and permissions, one scenario.

Usage: ``<venv>/bin/python sdk_driver.py HOST TOKEN``. Prints one JSON object of observations on
stdout; any failure raises (non-zero exit, traceback on stderr). Runs outside the project's venv,
so it imports nothing from the project.
"""

from __future__ import annotations

import json
import sys

import databricks.sdk
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.service import iam, jobs


def main(host: str, token: str) -> None:
    w = WorkspaceClient(config=Config(host=host, token=token, auth_type="pat", retry_timeout_seconds=30))
    me = w.current_user.me()
    task = jobs.Task(
        task_key="only",
        notebook_task=jobs.NotebookTask(notebook_path="/Shared/only"),
        existing_cluster_id="0923-164208-abcd",
    )
    job_id = w.jobs.create(name="old-sdk", tasks=[task], tags={"client": "old-sdk"}).job_id
    got = w.jobs.get(job_id)
    listed = [j.job_id for j in w.jobs.list(name="old-sdk")]
    w.jobs.reset(job_id, new_settings=jobs.JobSettings(name="old-sdk-reset", tasks=[task]))
    w.jobs.update(job_id, new_settings=jobs.JobSettings(timeout_seconds=600), fields_to_remove=["tags"])
    after = w.jobs.get(job_id)
    run = w.jobs.run_now_and_wait(job_id)
    perms = w.jobs.set_permissions(
        str(job_id),
        access_control_list=[
            jobs.JobAccessControlRequest(user_name=me.user_name, permission_level=jobs.JobPermissionLevel.IS_OWNER),
            jobs.JobAccessControlRequest(group_name="users", permission_level=jobs.JobPermissionLevel.CAN_VIEW),
        ],
    )
    patched = w.jobs.update_permissions(
        str(job_id),
        access_control_list=[
            jobs.JobAccessControlRequest(group_name="users", permission_level=jobs.JobPermissionLevel.CAN_MANAGE_RUN)
        ],
    )
    levels = w.jobs.get_permission_levels(str(job_id))
    w.jobs.delete(job_id)
    print(
        json.dumps(
            {
                "sdk_version": databricks.sdk.version.__version__,
                "user": me.user_name,
                "job_id": job_id,
                "format": got.settings.format.value if got.settings and got.settings.format else None,
                "listed": listed,
                "name_after": after.settings.name if after.settings else None,
                "timeout_after": after.settings.timeout_seconds if after.settings else None,
                "tags_after": after.settings.tags if after.settings else None,
                "run_result": run.state.result_state.value if run.state and run.state.result_state else None,
                "acl_after_put": sorted(_acl(perms.access_control_list or [])),
                "acl_after_patch": sorted(_acl(patched.access_control_list or [])),
                "levels": sorted(
                    lv.permission_level.value for lv in levels.permission_levels or [] if lv.permission_level
                ),
                "iam_ok": isinstance(me, iam.User),
            }
        )
    )


def _acl(entries: list[jobs.JobAccessControlResponse]) -> list[str]:
    out = []
    for e in entries:
        who = e.user_name or e.group_name or e.service_principal_name
        for p in e.all_permissions or []:
            out.append(f"{who}:{p.permission_level.value if p.permission_level else None}:{p.inherited}")
    return out


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
