"""Job permissions (``spec.permissions``): the API model's admission rules, the pure normalization and drift of
``controller.reconcile.permissions`` (inherited entries never drift, the live owner kept when none is desired, the
PUT body), the reconcile plan under both drift policies, and bundle ``permissions`` converted by ``dbjobs
convert``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controller.api.models import DatabricksJobSpec
from controller.gitops.bundle_permissions import spec_permissions
from controller.gitops.convert import convert_file
from controller.reconcile import permissions as perms
from controller.reconcile.compare import OWNER_TAG
from controller.reconcile.decide import Observation, Verb
from controller.reconcile.drift import ABSENT
from controller.reconcile.outcome import Facts, Result, Step, plan, settle
from controller.reconcile.reasons import ConditionType, EventReason, Reason

pytestmark = pytest.mark.unit
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
SETTINGS = {"name": "job", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/n"}}]}
ME = "controller@example.com"


def spec(**extra: Any) -> DatabricksJobSpec:
    return DatabricksJobSpec.model_validate({"workspaceRef": {"name": "w"}, "settings": SETTINGS, **extra})


def acl_response(*direct: tuple[str, str, str], admins: bool = True) -> dict[str, Any]:
    """A ``JobPermissions`` answer: ``direct`` as (kind, name, level), plus the inherited admins entry."""
    entries: list[dict[str, Any]] = [
        {kind: name, "all_permissions": [{"permission_level": level, "inherited": False}]}
        for kind, name, level in direct
    ]
    if admins:
        inherited = {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}
        entries.append({"group_name": "admins", "all_permissions": [inherited]})
    return {"object_id": "/jobs/1", "object_type": "job", "access_control_list": entries}


# ---- admission (the model; the same rules are CEL in the CRD) ---------------------------------------------


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"level": "CAN_VIEW"}], "exactly one of userName"),
        ([{"userName": "a", "groupName": "g", "level": "CAN_VIEW"}], "exactly one of userName"),
        ([{"groupName": "g", "level": "IS_OWNER"}], "a group cannot be IS_OWNER"),
        ([{"userName": "a", "level": "CAN_READ"}], "level"),
        ([{"userName": "a", "level": "IS_OWNER"}, {"servicePrincipalName": "s", "level": "IS_OWNER"}], "one entry"),
        ([{"userName": "a", "level": "CAN_VIEW"}, {"userName": "a", "level": "CAN_MANAGE"}], "only once"),
    ],
)
def test_admission_refuses_bad_permissions(entries: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(permissions=entries)


def test_absent_permissions_are_not_managed_and_an_empty_list_is() -> None:
    assert spec().permissions is None
    assert spec(permissions=[]).permissions == []
    same_name = [{"userName": "x", "level": "CAN_VIEW"}, {"groupName": "x", "level": "CAN_VIEW"}]
    assert len(spec(permissions=same_name).permissions or []) == 2  # a user and a group may share a name


def test_the_crd_carries_the_permission_rules() -> None:
    import yaml

    from controller.api import crdgen

    crd = yaml.safe_load((Path(crdgen.__file__).parents[2] / "crds" / "dbjobs.io_databricksjobs.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    field = schema["permissions"]
    assert field["maxItems"] == 64
    assert {r["message"] for r in field["x-kubernetes-validations"]} >= {"at most one entry may be IS_OWNER"}
    assert field["items"]["properties"]["level"]["enum"] == ["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"]


# ---- normalization and drift ---------------------------------------------------------------------------------


def test_inherited_entries_are_dropped_and_direct_ones_sorted() -> None:
    got = perms.direct(acl_response(("user_name", ME, "IS_OWNER"), ("group_name", "data-eng", "CAN_MANAGE_RUN")))
    assert got == (
        perms.Grant("group_name", "data-eng", "CAN_MANAGE_RUN"),
        perms.Grant("user_name", ME, "IS_OWNER"),
    )


def test_a_principal_with_a_direct_and_an_inherited_level_keeps_the_direct_one() -> None:
    response = {
        "access_control_list": [
            {
                "group_name": "admins",
                "all_permissions": [
                    {"permission_level": "CAN_MANAGE", "inherited": True},
                    {"permission_level": "CAN_VIEW", "inherited": False},
                ],
            }
        ]
    }
    assert perms.direct(response) == (perms.Grant("group_name", "admins", "CAN_VIEW"),)


def test_in_sync_when_the_live_owner_is_kept_and_admins_are_inherited() -> None:
    want = perms.desired(spec(permissions=[{"groupName": "data-eng", "level": "CAN_MANAGE_RUN"}]).permissions or [])
    live = perms.direct(acl_response(("user_name", ME, "IS_OWNER"), ("group_name", "data-eng", "CAN_MANAGE_RUN")))
    assert perms.drift_items(want, live) == []
    assert perms.put_body(want, live) == [
        {"group_name": "data-eng", "permission_level": "CAN_MANAGE_RUN"},
        {"user_name": ME, "permission_level": "IS_OWNER"},
    ]


def test_drift_names_each_principal_with_desired_and_live_levels() -> None:
    want = perms.desired(
        spec(
            permissions=[
                {"groupName": "data-eng", "level": "CAN_MANAGE_RUN"},
                {"servicePrincipalName": "sp-1", "level": "CAN_VIEW"},
            ]
        ).permissions
        or []
    )
    live = perms.direct(
        acl_response(
            ("user_name", ME, "IS_OWNER"), ("group_name", "data-eng", "CAN_MANAGE"), ("user_name", "eve", "CAN_VIEW")
        )
    )
    items = {i.path: (i.desired, i.live) for i in perms.drift_items(want, live)}
    assert items == {
        "permissions[group:data-eng]": ("CAN_MANAGE_RUN", "CAN_MANAGE"),
        "permissions[servicePrincipal:sp-1]": ("CAN_VIEW", ABSENT),
        "permissions[user:eve]": (ABSENT, "CAN_VIEW"),
    }


def test_a_desired_owner_is_compared_and_sent_instead_of_the_live_one() -> None:
    want = perms.desired(spec(permissions=[{"servicePrincipalName": "sp-1", "level": "IS_OWNER"}]).permissions or [])
    live = perms.direct(acl_response(("user_name", ME, "IS_OWNER")))
    assert [i.path for i in perms.drift_items(want, live)] == [
        "permissions[servicePrincipal:sp-1]",
        f"permissions[user:{ME}]",
    ]
    assert perms.put_body(want, live) == [{"service_principal_name": "sp-1", "permission_level": "IS_OWNER"}]
    assert perms.create_body(want) == [{"service_principal_name": "sp-1", "permission_level": "IS_OWNER"}]


# ---- the plan ------------------------------------------------------------------------------------------------


OWNER = "team_job-0123456789abcdef"


def live() -> dict[str, Any]:
    """The job as the workspace returns it after a write of SETTINGS (server defaults filled)."""
    tasks = [{"task_key": "t", "notebook_task": {"notebook_path": "/n", "source": "WORKSPACE"}}]
    return {
        **SETTINGS,
        "tasks": tasks,
        "format": "MULTI_TASK",
        "max_concurrent_runs": 1,
        "timeout_seconds": 0,
        "queue": {"enabled": True},
        "email_notifications": {},
        "webhook_notifications": {},
        "run_as": {"user_name": "me@example.com"},
        "tags": {OWNER_TAG: OWNER},
    }


def _facts(job_spec: DatabricksJobSpec, acl: perms.Acl | None, generation: int = 2) -> Facts:
    status = {"observedGeneration": 2, "jobId": 7}
    observed = Observation(7, live(), owner="me@example.com", acl=acl)
    return Facts(job_spec, generation, OWNER, status, host="https://h", observation=observed, now=NOW)


MANAGED = [{"groupName": "data-eng", "level": "CAN_MANAGE_RUN"}]
CHANGED = perms.direct(acl_response(("user_name", ME, "IS_OWNER"), ("group_name", "data-eng", "CAN_VIEW")))


def test_permission_drift_under_correct_is_a_reset_with_the_desired_acl() -> None:
    decision = plan(_facts(spec(permissions=MANAGED), CHANGED))
    assert decision.step is Step.RESET
    assert decision.plan is not None and decision.plan.drift == ["permissions[group:data-eng]"]
    assert decision.acl == (perms.Grant("group_name", "data-eng", "CAN_MANAGE_RUN"),)
    settings_part, acl_part = perms.split(decision.plan.report)
    assert settings_part.in_sync and not acl_part.in_sync


def test_permission_drift_under_report_is_reported_in_status() -> None:
    facts = _facts(spec(permissions=MANAGED, driftPolicy="Report"), CHANGED)
    decision = plan(facts)
    assert decision.step is Step.NONE and decision.plan is not None and decision.plan.verb is Verb.REPORT_DRIFT
    new = settle(facts, decision, Result())
    assert new is not None
    assert new.status["drift"]["paths"] == ["permissions[group:data-eng]"]
    synced = next(c for c in new.status["conditions"] if c["type"] == ConditionType.SYNCED.value)
    assert synced["reason"] == Reason.DRIFT_DETECTED.value
    assert [e.reason for e in new.events] == [EventReason.DRIFT_DETECTED]


def test_unmanaged_or_unread_permissions_are_never_drift() -> None:
    assert plan(_facts(spec(), CHANGED)).step is Step.NONE  # spec.permissions absent
    assert plan(_facts(spec(permissions=MANAGED), None)).step is Step.NONE  # not read
    in_sync = perms.direct(acl_response(("user_name", ME, "IS_OWNER"), ("group_name", "data-eng", "CAN_MANAGE_RUN")))
    assert plan(_facts(spec(permissions=MANAGED), in_sync)).step is Step.NONE


# ---- dbjobs convert ------------------------------------------------------------------------------------------


def test_bundle_permissions_merge_with_the_jobs_own_winning() -> None:
    own = [{"level": "CAN_MANAGE", "group_name": "data-eng"}, {"level": "IS_OWNER", "service_principal_name": "sp"}]
    wide = [{"level": "CAN_RUN", "group_name": "data-eng"}, {"level": "CAN_RUN", "user_name": "ops@example.com"}]
    out, findings = spec_permissions(own, "resources.jobs.j.permissions", wide, "permissions")
    assert out == [
        {"groupName": "data-eng", "level": "CAN_MANAGE"},
        {"servicePrincipalName": "sp", "level": "IS_OWNER"},
        {"userName": "ops@example.com", "level": "CAN_MANAGE_RUN"},
    ]
    assert findings == []


def test_bundle_permissions_that_cannot_be_converted_are_reported_by_field() -> None:
    own = [
        {"level": "IS_OWNER", "group_name": "g"},
        {"level": "CAN_RUN", "user_name": "a"},  # CAN_RUN is a bundle-wide level, not a job's
        {"level": "CAN_VIEW"},
        {"level": "CAN_VIEW", "user_name": "b"},
        {"level": "CAN_MANAGE", "user_name": "b"},
    ]
    out, findings = spec_permissions(own, "p", [], "")
    assert out == [{"userName": "b", "level": "CAN_VIEW"}]
    assert [where for where, _ in findings] == ["p[0]", "p[1]", "p[2]", "p[4]"]
    assert all("permission not converted" in m for _, m in findings)


def test_convert_writes_spec_permissions_the_model_accepts(tmp_path: Path) -> None:
    bundle = tmp_path / "databricks.yml"
    bundle.write_text(
        "bundle: {name: shop}\n"
        "permissions:\n  - {level: CAN_VIEW, group_name: users}\n"
        "resources:\n  jobs:\n    orders:\n      name: orders\n"
        "      permissions:\n        - {level: IS_OWNER, service_principal_name: 9f0c-sp}\n"
        "      tasks:\n        - task_key: t\n          notebook_task: {notebook_path: /Workspace/n}\n"
    )
    result = convert_file(bundle)
    manifest = result.manifests[0]
    assert manifest["spec"]["permissions"] == [
        {"servicePrincipalName": "9f0c-sp", "level": "IS_OWNER"},
        {"groupName": "users", "level": "CAN_VIEW"},
    ]
    assert list(manifest["spec"]) == ["workspaceRef", "permissions", "settings"]
    assert DatabricksJobSpec.model_validate(manifest["spec"]).permissions is not None


def test_a_create_bodys_access_control_list_becomes_spec_permissions(tmp_path: Path) -> None:
    body = tmp_path / "job.json"
    body.write_text(
        '{"name": "x", "access_control_list": [{"group_name": "g", "permission_level": "CAN_VIEW"},'
        ' {"group_name": "h", "permission_level": "IS_OWNER"}],'
        ' "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/n"}}]}'
    )
    result = convert_file(body)
    manifest = result.manifests[0]
    assert manifest["spec"]["permissions"] == [{"groupName": "g", "level": "CAN_VIEW"}]
    assert "access_control_list" not in manifest["spec"]["settings"]
    assert [w for w in result.warnings if "access_control_list" in w] == [
        "job.json: access_control_list[1]: permission not converted: a group cannot be IS_OWNER"
    ]
