"""``dbjobs convert`` turns a bundle's ``${resources.jobs.<key>.id}`` into a reference to the DatabricksJob it makes
of job ``<key>`` (``controller.gitops.joblinks``): in every field that takes a job id (``run_job_task`` at the top
and inside ``for_each_task``, job-completion triggers), with the key rewritten to the manifest's Kubernetes name and
no deploy-only warning; a key the bundle lacks, a job that was refused, and references in other fields stay
reported by field; the manifests pass the controller's own checks (``manifest_problems``); jobs whose references
form a cycle (a -> b -> a) are refused, naming the cycle, as the controller and ``dbjobs plan`` refuse them, and a job
referencing one of them is told it was not converted."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from controller.api.admission import manifest_problems
from controller.gitops.convert import ConversionResult, convert_file

pytestmark = pytest.mark.unit

BUNDLE = """\
bundle: {name: shop}
resources:
  jobs:
    nightly_etl:
      name: nightly etl
      tasks:
        - task_key: load
          notebook_task: {notebook_path: /Shared/load}
    broken:
      name: broken
      tasks:
        - task_key: nothing
    orchestrator:
      name: orchestrator
      trigger:
        job_completion:
          jobs:
            - {workspace_id: "1", job_id: "${resources.jobs.nightly_etl.id}"}
      tasks:
        - task_key: run_etl
          run_job_task:
            job_id: ${resources.jobs.nightly_etl.id}
            job_parameters: {upstream: "job ${resources.jobs.nightly_etl.id}"}
        - task_key: fan_out
          for_each_task:
            inputs: "[1, 2]"
            task:
              task_key: fan_out_inner
              run_job_task: {job_id: "${resources.jobs.nightly_etl.id}"}
        - task_key: run_broken
          run_job_task: {job_id: "${resources.jobs.broken.id}"}
        - task_key: run_unknown
          run_job_task: {job_id: "${resources.jobs.audit.id}"}
        - task_key: run_unknown_key
          run_job_task: {job_id: "${resources.jobs.missing_job.id}"}
"""


def converted(tmp_path: Path) -> ConversionResult:
    path = tmp_path / "databricks.yml"
    path.write_text(textwrap.dedent(BUNDLE), encoding="utf-8")
    return convert_file(path)


def warnings_at(result: ConversionResult, field: str) -> list[str]:
    return [w for w in result.warnings if f"resources.jobs.orchestrator.{field}:" in w]


def test_every_job_id_field_references_the_manifest_made_of_that_job(tmp_path: Path) -> None:
    result = converted(tmp_path)
    by_name = {m["metadata"]["name"]: m for m in result.manifests}
    assert sorted(by_name) == ["nightly-etl", "orchestrator"]  # broken is refused
    settings = by_name["orchestrator"]["spec"]["settings"]
    assert settings["tasks"][0]["run_job_task"]["job_id"] == "${resources.jobs.nightly-etl.id}"
    assert settings["tasks"][1]["for_each_task"]["task"]["run_job_task"]["job_id"] == "${resources.jobs.nightly-etl.id}"
    assert settings["trigger"]["job_completion"]["jobs"][0]["job_id"] == "${resources.jobs.nightly-etl.id}"
    for field in ("tasks[0].run_job_task.job_id", "tasks[1].for_each_task.task.run_job_task.job_id"):
        assert warnings_at(result, field) == []
    assert warnings_at(result, "trigger.job_completion.jobs[0].job_id") == []


def test_references_that_cannot_be_linked_stay_and_are_reported_by_field(tmp_path: Path) -> None:
    result = converted(tmp_path)
    (refused,) = warnings_at(result, "tasks[2].run_job_task.job_id")
    assert "references DatabricksJob 'broken', which was not converted (refused): no manifest" in refused
    (unknown,) = warnings_at(result, "tasks[3].run_job_task.job_id")
    assert "names no job of this bundle" in unknown and "waits for a DatabricksJob named 'audit'" in unknown
    (bad,) = warnings_at(result, "tasks[4].run_job_task.job_id")
    assert "'missing_job' is no Kubernetes name" in bad
    # Text that merely mentions a job's id is not a job-id field: still known only after a bundle deploy.
    (text,) = warnings_at(result, "tasks[0].run_job_task.job_parameters.upstream")
    assert "exists only after the bundle CLI deploys it" in text


def test_the_linked_manifest_passes_admission_and_the_controllers_checks(tmp_path: Path) -> None:
    result = converted(tmp_path)
    orchestrator = next(m for m in result.manifests if m["metadata"]["name"] == "orchestrator")
    problems = manifest_problems(orchestrator)
    # Only the reference whose key is not a Kubernetes name is refused, by field.
    assert problems and all("tasks[4].run_job_task.job_id" in p for p in problems), problems


CYCLE = """\
bundle: {name: loop}
resources:
  jobs:
    a:
      name: a
      tasks:
        - task_key: run_b
          run_job_task: {job_id: "${resources.jobs.b.id}"}
    b:
      name: b
      tasks:
        - task_key: run_a
          run_job_task: {job_id: "${resources.jobs.a.id}"}
    c:
      name: c
      tasks:
        - task_key: run_a
          run_job_task: {job_id: "${resources.jobs.a.id}"}
"""


def test_a_cycle_of_references_is_refused_naming_the_cycle(tmp_path: Path) -> None:
    from controller.cli import main

    path = tmp_path / "databricks.yml"
    path.write_text(CYCLE, encoding="utf-8")
    result = convert_file(path)
    assert [m["metadata"]["name"] for m in result.manifests] == ["c"]
    assert len(result.refused) == 2
    assert any("closes a cycle of references a -> b -> a" in r and "InvalidSpec" in r for r in result.refused)
    assert any("closes a cycle of references b -> a -> b" in r for r in result.refused)
    (warning,) = [w for w in result.warnings if "resources.jobs.c.tasks[0].run_job_task.job_id" in w]
    assert "references DatabricksJob 'a', which was not converted" in warning
    assert main(["convert", str(path), "-o", str(tmp_path / "out")]) == 1  # exit code of a refusal
