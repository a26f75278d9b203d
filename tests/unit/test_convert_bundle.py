"""``dbjobs convert`` on small hand-written bundle YAML (nothing here comes from the corpus)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from controller.gitops.convert import ConversionError, ConversionResult, convert_file

pytestmark = pytest.mark.unit


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(content), encoding="utf-8")
    return path


def settings_of(result: ConversionResult, i: int = 0) -> dict[str, Any]:
    settings: dict[str, Any] = result.manifests[i]["spec"]["settings"]
    return settings


def has_warning(result: ConversionResult, *parts: str) -> bool:
    return any(all(p in w for p in parts) for w in result.warnings)


BUNDLE = """\
    bundle:
      name: shop
    variables:
      catalog:
        default: main
      schema:
        default: ${var.catalog}_sales
      cluster:
        type: complex
        default:
          spark_version: 15.4.x-scala2.12
          num_workers: ${var.workers}
      workers:
        default: 2
      no_default:
        description: set at deploy time
    common: &tags
      tags: {team: data}
    resources:
      jobs:
        orders_job:
          name: "[${bundle.target}] ${bundle.name} orders"
          <<: *tags
          permissions:
            - level: CAN_VIEW
              group_name: users
          job_clusters:
            - job_cluster_key: main
              new_cluster: ${var.cluster}
          tasks:
            - task_key: load
              job_cluster_key: main
              notebook_task:
                notebook_path: /Shared/load
                base_parameters:
                  table: ${var.schema}.orders
                  run: "{{job.run_id}}"
                  secret: ${var.no_default}
            - task_key: after
              depends_on: [{task_key: load}]
              run_job_task:
                job_id: ${resources.jobs.other.id}
    targets:
      dev:
        default: true
      prod:
        variables:
          catalog: prod_main
        resources:
          jobs:
            orders_job:
              job_clusters:
                - job_cluster_key: main
                  new_cluster: {node_type_id: big}
              tasks:
                - task_key: load
                  timeout_seconds: 600
            audit_job:
              name: audit
              tasks:
                - task_key: audit
                  sql_task: {warehouse_id: w, file: {path: /q.sql}}
    """


def test_bundle_resolves_variables_and_bundle_fields_with_default_target(tmp_path: Path) -> None:
    result = convert_file(write(tmp_path, "databricks.yml", BUNDLE))
    assert [m["metadata"]["name"] for m in result.manifests] == ["orders-job"]
    manifest = result.manifests[0]
    assert manifest["metadata"]["annotations"]["dbjobs.io/source"] == "databricks.yml#resources.jobs.orders_job"
    settings = settings_of(result)
    assert settings["name"] == "[dev] shop orders"
    assert settings["tags"] == {"team": "data"}
    assert "permissions" not in settings
    assert manifest["spec"]["permissions"] == [{"groupName": "users", "level": "CAN_VIEW"}]
    assert not has_warning(result, "permission")
    # A complex variable replaces the whole field; a nested variable inside it is resolved too.
    assert settings["job_clusters"][0]["new_cluster"] == {"spark_version": "15.4.x-scala2.12", "num_workers": 2}
    params = settings["tasks"][0]["notebook_task"]["base_parameters"]
    assert params["table"] == "main_sales.orders"
    assert params["run"] == "{{job.run_id}}"
    assert params["secret"] == "${var.no_default}"
    assert has_warning(result, "tasks[0].notebook_task.base_parameters.secret", "${var.no_default}")
    assert settings["tasks"][1]["run_job_task"]["job_id"] == "${resources.jobs.other.id}"
    assert has_warning(
        result, "databricks.yml: resources.jobs.orders_job.tasks[1].run_job_task.job_id:", "${resources.jobs.other.id}"
    )
    assert not any("job.run_id" in w for w in result.warnings)
    assert has_warning(result, "audit_job", "not selected")


def test_bundle_target_overrides_merge_by_key_and_add_target_only_jobs(tmp_path: Path) -> None:
    result = convert_file(write(tmp_path, "databricks.yml", BUNDLE), target="prod")
    assert [m["metadata"]["name"] for m in result.manifests] == ["orders-job", "audit-job"]
    orders, audit = settings_of(result, 0), settings_of(result, 1)
    assert orders["name"] == "[prod] shop orders"
    assert [c["job_cluster_key"] for c in orders["job_clusters"]] == ["main"]
    # As in the bundle CLI, targets merge before variables resolve: the map replaces the ``${var.cluster}`` string.
    assert orders["job_clusters"][0]["new_cluster"] == {"node_type_id": "big"}
    assert [t["task_key"] for t in orders["tasks"]] == ["load", "after"]
    assert orders["tasks"][0]["timeout_seconds"] == 600
    assert orders["tasks"][0]["notebook_task"]["notebook_path"] == "/Shared/load"
    assert orders["tasks"][0]["notebook_task"]["base_parameters"]["table"] == "prod_main_sales.orders"
    assert audit["tasks"][0]["task_key"] == "audit"
    source = result.manifests[1]["metadata"]["annotations"]["dbjobs.io/source"]
    assert source == "databricks.yml#targets.prod.resources.jobs.audit_job"


def test_unknown_target_is_an_error_naming_file_and_targets(tmp_path: Path) -> None:
    path = write(tmp_path, "databricks.yml", BUNDLE)
    with pytest.raises(ConversionError, match=r"databricks\.yml: targets: --target 'prdo' is not a target.*prod"):
        convert_file(path, target="prdo")


def test_bundle_without_selectable_target_leaves_target_reference(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "b.yml",
        """\
        resources:
          jobs:
            j:
              name: ${bundle.target}-j
              tasks: [{task_key: t, notebook_task: {notebook_path: /n}}]
        targets:
          a: {}
          b: {}
        """,
    )
    result = convert_file(path)
    assert settings_of(result)["name"] == "${bundle.target}-j"
    assert has_warning(result, "b.yml: targets:", "no target selected")
    assert has_warning(result, "resources.jobs.j.name", "${bundle.target}")


def test_pre_ga_environments_and_bundle_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bundle.yml",
        """\
        bundle: {name: old}
        resources:
          jobs:
            j:
              name: ${bundle.environment}-j
              tasks: [{task_key: t, pipeline_task: {pipeline_id: p}}]
        environments:
          staging: {default: true}
          qa: {}
        """,
    )
    assert settings_of(convert_file(path))["name"] == "staging-j"


def test_yaml_12_scalars_stay_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yml",
        """\
        resources:
          jobs:
            j:
              tags: {switch: on, answer: no, day: 2024-01-01}
              tasks: [{task_key: t, notebook_task: {notebook_path: /n}}]
        """,
    )
    assert settings_of(convert_file(path))["tags"] == {"switch": "on", "answer": "no", "day": "2024-01-01"}
