"""``dbjobs convert`` on multi-file bundles written here (small, one rule each; the real ones are in
test_convert_bundle_corpus.py).

Covers item 3 of issue 12 rule by rule: ``include:`` globs and paths relative to the bundle root, resources
merged across files (a duplicate refused), the target's resources, ``run_as``, ``variables`` and ``presets``,
``mode: development``, ``${var.*}`` / ``${bundle.*}`` / ``${workspace.*}`` resolved, a job's id across files
linked to its DatabricksJob, non-job resources listed, ``run_as`` and permissions never dropped silently, and relative
code paths turned into a ``git_source`` with ``--git-url``/``--git-ref`` (against a real Git checkout made
with gitpython) or refused with that advice.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from controller.cli import main
from controller.gitops.convert import ConversionError, ConversionResult, convert_file
from controller.gitops.convert_cli import bundle_options

pytestmark = pytest.mark.unit

ROOT = """\
bundle: {name: shop}
include:
  - resources/*.yml
  - extra/more.yaml
variables:
  catalog: {default: main}
  warehouse: {description: no default}
run_as: {service_principal_name: sp-top}
permissions:
  - {group_name: data-eng, level: CAN_MANAGE}
workspace:
  host: https://example.cloud.databricks.com
targets:
  dev:
    default: true
    mode: development
  prod:
    run_as: {user_name: prod@example.com}
    presets:
      name_prefix: "[prod] "
      tags: {cost: c1}
      trigger_pause_status: UNPAUSED
    variables:
      catalog: prod_main
      warehouse: {default: w-prod}
    workspace:
      root_path: /Workspace/Shared/${bundle.name}/${bundle.target}
    permissions:
      - {user_name: ops@example.com, level: CAN_VIEW}
    resources:
      jobs:
        orders:
          schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC}
          tasks:
            - task_key: load
              timeout_seconds: 600
"""

ORDERS = """\
resources:
  jobs:
    orders:
      name: orders ${bundle.target}
      tasks:
        - task_key: load
          existing_cluster_id: c1
          notebook_task:
            notebook_path: /Shared/load
            base_parameters:
              table: ${var.catalog}.sales.orders
              files: ${workspace.file_path}/conf
              host: ${workspace.host}
        - task_key: fan_out
          depends_on: [{task_key: load}]
          run_job_task: {job_id: "${resources.jobs.audit.id}"}
  pipelines:
    refresh: {name: refresh}
"""

AUDIT = """\
resources:
  jobs:
    audit:
      run_as: {user_name: auditor@example.com}
      permissions:
        - {user_name: auditor@example.com, level: CAN_MANAGE_RUN}
      tasks:
        - task_key: q
          sql_task: {warehouse_id: "${var.warehouse}", query: {query_id: q1}}
  dashboards:
    board: {display_name: board}
"""


def bundle(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path / "databricks.yml"


def shop(tmp_path: Path) -> Path:
    return bundle(
        tmp_path,
        {"databricks.yml": ROOT, "resources/orders.yml": ORDERS, "extra/more.yaml": AUDIT, "resources/notes.txt": "x"},
    )


def jobs(result: ConversionResult) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in result.manifests}


def warned(result: ConversionResult, *parts: str) -> bool:
    return any(all(p in w for p in parts) for w in result.warnings)


def convert(path: Path, target: str | None = None, **extra: Any) -> ConversionResult:
    variables = extra.pop("variables", None)
    return convert_file(path, options=bundle_options(target, variables, **extra))


def test_include_globs_read_every_file_and_name_where_each_job_came_from(tmp_path: Path) -> None:
    result = convert(shop(tmp_path), "prod")
    by_name = jobs(result)
    assert sorted(by_name) == ["audit", "orders"]
    assert (
        by_name["orders"]["metadata"]["annotations"]["dbjobs.io/source"] == "resources/orders.yml#resources.jobs.orders"
    )
    assert by_name["audit"]["metadata"]["annotations"]["dbjobs.io/source"] == "extra/more.yaml#resources.jobs.audit"
    assert warned(result, "databricks.yml: resources/orders.yml: resources.pipelines.refresh", "not converted")
    assert warned(result, "databricks.yml: extra/more.yaml: resources.dashboards.board", "not converted")


def test_the_target_overrides_merge_by_key_and_set_run_as_variables_and_presets(tmp_path: Path) -> None:
    by_name = jobs(convert(shop(tmp_path), "prod"))
    orders = by_name["orders"]["spec"]["settings"]
    assert orders["name"] == "[prod] orders prod"
    assert [t["task_key"] for t in orders["tasks"]] == ["load", "fan_out"]
    assert orders["tasks"][0]["timeout_seconds"] == 600 and orders["tasks"][0]["existing_cluster_id"] == "c1"
    assert orders["schedule"]["pause_status"] == "UNPAUSED"  # presets.trigger_pause_status
    assert orders["tags"] == {"cost": "c1"}
    assert orders["run_as"] == {"user_name": "prod@example.com"}  # the target's run_as replaces the top level's
    params = orders["tasks"][0]["notebook_task"]["base_parameters"]
    assert params == {
        "table": "prod_main.sales.orders",
        "files": "/Workspace/Shared/shop/prod/files/conf",
        "host": "https://example.cloud.databricks.com",
    }
    audit = by_name["audit"]["spec"]["settings"]
    assert audit["name"] == "[prod] audit"  # named after its key, then prefixed
    assert audit["run_as"] == {"user_name": "auditor@example.com"}  # a job's own run_as wins
    assert audit["tasks"][0]["sql_task"]["warehouse_id"] == "w-prod"


def test_a_job_id_of_the_bundle_is_a_reference_and_permissions_become_spec_permissions(tmp_path: Path) -> None:
    result = convert(shop(tmp_path), "prod")
    by_name = jobs(result)
    # The job of another file of the bundle: a reference to the DatabricksJob made of it (test_convert_joblinks.py).
    assert by_name["orders"]["spec"]["settings"]["tasks"][1]["run_job_task"]["job_id"] == "${resources.jobs.audit.id}"
    assert not warned(result, "resources.jobs.orders.tasks[1].run_job_task.job_id")
    assert by_name["audit"]["spec"]["permissions"] == [
        {"userName": "auditor@example.com", "level": "CAN_MANAGE_RUN"},
        {"groupName": "data-eng", "level": "CAN_MANAGE"},
        {"userName": "ops@example.com", "level": "CAN_VIEW"},
    ]
    assert not warned(result, "permission")


def test_development_mode_prefixes_pauses_tags_and_limits_runs_as_the_cli_does(tmp_path: Path) -> None:
    path = shop(tmp_path)
    (tmp_path / "resources" / "orders.yml").write_text(
        ORDERS.replace(
            "      tasks:", "      schedule: {quartz_cron_expression: '0 0 2 * * ?', timezone_id: UTC}\n      tasks:", 1
        )
    )
    result = convert(path, current_user="Jane.Doe@example.com")
    orders = jobs(result)["orders"]["spec"]["settings"]
    assert orders["name"] == "[dev jane_doe] orders dev"
    assert orders["schedule"]["pause_status"] == "PAUSED"
    assert orders["tags"] == {"dev": "jane_doe"}
    assert orders["max_concurrent_runs"] == 4
    assert orders["run_as"] == {"service_principal_name": "sp-top"}
    # ~ is the deploying user's home: without --current-user the default root path is reported, not guessed.
    params = orders["tasks"][0]["notebook_task"]["base_parameters"]
    assert params["files"] == "/Workspace/Users/Jane.Doe@example.com/.bundle/shop/dev/files/conf"
    anonymous = convert(path)
    assert (
        jobs(anonymous)["orders"]["spec"]["settings"]["name"] == "[dev ${workspace.current_user.short_name}] orders dev"
    )
    assert warned(anonymous, "orders.name", "give it with --current-user")
    assert warned(anonymous, "base_parameters.files", "${workspace.file_path}", "home folder")


def test_variables_without_a_value_are_reported_and_var_gives_them(tmp_path: Path) -> None:
    path = shop(tmp_path)
    result = convert(path, "dev")
    assert warned(result, "sql_task.warehouse_id", "variable 'warehouse' has no value", "--var warehouse=VALUE")
    given = convert(path, "dev", variables=["warehouse=w-cli", "catalog=cli"])
    audit = jobs(given)["audit"]["spec"]["settings"]
    assert audit["tasks"][0]["sql_task"]["warehouse_id"] == "w-cli"
    assert "cli.sales.orders" in json.dumps(jobs(given)["orders"])


@pytest.mark.parametrize(
    ("include", "error"),
    [
        ("[missing.yml]", "'missing.yml' defined in 'include' does not match any file"),
        ("[/abs/*.yml]", "includes must be relative paths"),
        ("[resources/notes.txt]", "only YAML or JSON files may be included"),
    ],
)
def test_include_errors_are_the_clis(tmp_path: Path, include: str, error: str) -> None:
    path = bundle(
        tmp_path, {"databricks.yml": f"bundle: {{name: b}}\ninclude: {include}\n", "resources/notes.txt": "x"}
    )
    with pytest.raises(ConversionError, match=error):
        convert_file(path)


def test_a_glob_matching_nothing_is_reported_and_a_duplicate_resource_refused(tmp_path: Path) -> None:
    job = "resources:\n  jobs:\n    j: {name: j, tasks: []}\n"
    path = bundle(tmp_path, {"databricks.yml": "include: [none/*.yml, a/*.yml]\n", "a/one.yml": job})
    result = convert_file(path)
    assert warned(result, "include[0]", "matches no file")
    (tmp_path / "a" / "two.yml").write_text(job)
    with pytest.raises(ConversionError, match=r"a/two\.yml: resources\.jobs\.j: defined twice \(also in a/one\.yml\)"):
        convert_file(path)


def test_empty_optional_strings_are_dropped_as_the_cli_drops_them(tmp_path: Path) -> None:
    text = """\
        variables: {commit: {default: ""}}
        resources:
          jobs:
            j:
              name: j
              git_source: {git_url: "https://github.com/o/r", git_provider: gitHub, git_commit: "${var.commit}"}
              parameters: [{name: p, default: ""}]
              tasks: [{task_key: t, notebook_task: {notebook_path: nb}}]
        """
    settings = jobs(convert_file(bundle(tmp_path, {"databricks.yml": text})))["j"]["spec"]["settings"]
    assert "git_commit" not in settings["git_source"]
    assert settings["parameters"] == [{"name": "p", "default": ""}]  # required: kept


CODE = """\
resources:
  jobs:
    etl:
      name: etl
      tasks:
        - task_key: nb
          existing_cluster_id: c
          notebook_task: {notebook_path: ../src/ingest.py}
        - task_key: script
          existing_cluster_id: c
          spark_python_task: {python_file: ./main.py}
        - task_key: shared
          existing_cluster_id: c
          notebook_task: {notebook_path: /Shared/keep}
          libraries: [{whl: ../dist/*.whl}]
"""


def code_bundle(tmp_path: Path) -> Path:
    return bundle(tmp_path / "jobs", {"databricks.yml": "include: [resources/*.yml]\n", "resources/etl.yml": CODE})


def test_relative_code_paths_without_git_url_are_refused_with_the_advice(tmp_path: Path) -> None:
    result = convert_file(code_bundle(tmp_path))
    assert result.manifests == []
    assert any(
        "resources/etl.yml: resources.jobs.etl.tasks[0].notebook_task.notebook_path: '../src/ingest.py' is a file the "
        "bundle CLI uploads"
        in line
        and "--git-url" in line
        and line.endswith("[rule workspace-path-absolute]")
        for line in result.refused
    ), result.refused
    assert any("tasks[1].spark_python_task.python_file: './main.py'" in line for line in result.refused)


def test_git_url_turns_relative_code_paths_into_a_git_source(tmp_path: Path) -> None:
    repo = git.Repo.init(tmp_path, initial_branch="main")
    path = code_bundle(tmp_path)  # the bundle sits in jobs/ inside the repository
    repo.index.add([str(path), str(tmp_path / "jobs" / "resources" / "etl.yml")])
    commit = repo.index.commit("bundle", author=git.Actor("t", "t@x"), committer=git.Actor("t", "t@x"))
    repo.create_tag("v1")
    result = convert(path, git_url="https://github.com/acme/etl.git", git_ref="v1")
    assert result.refused == []
    settings = jobs(result)["etl"]["spec"]["settings"]
    assert settings["git_source"] == {
        "git_url": "https://github.com/acme/etl.git",
        "git_provider": "gitHub",
        "git_tag": "v1",
    }
    nb, script, shared = settings["tasks"]
    assert nb["notebook_task"] == {"notebook_path": "jobs/src/ingest", "source": "GIT"}  # notebook: no extension
    assert script["spark_python_task"] == {"python_file": "jobs/resources/main.py", "source": "GIT"}
    assert shared["notebook_task"] == {"notebook_path": "/Shared/keep", "source": "WORKSPACE"}
    assert warned(result, "tasks[2].libraries[0].whl", "the bundle CLI builds or uploads")
    by_commit = jobs(convert(path, git_url="https://github.com/acme/etl.git", git_ref=commit.hexsha[:8]))
    assert by_commit["etl"]["spec"]["settings"]["git_source"]["git_commit"] == commit.hexsha
    by_branch = jobs(convert(path, git_url="https://gitlab.com/acme/etl.git", git_ref="main"))
    assert by_branch["etl"]["spec"]["settings"]["git_source"] == {
        "git_url": "https://gitlab.com/acme/etl.git",
        "git_provider": "gitLab",
        "git_branch": "main",
    }


def test_git_url_needs_a_provider_it_can_tell_and_paths_inside_the_repository(tmp_path: Path) -> None:
    path = code_bundle(tmp_path)
    with pytest.raises(ConversionError, match="give --git-provider"):
        convert(path, git_url="https://git.example.com/etl.git", git_ref="main")
    plain = convert(path, git_url="https://git.example.com/etl.git", git_ref="main", git_provider="gitLab")
    assert warned(plain, "not in a Git checkout", "--git-path")  # the bundle root is taken as the repository root
    assert jobs(plain)["etl"]["spec"]["settings"]["tasks"][0]["notebook_task"]["notebook_path"] == "src/ingest"
    in_folder = convert(path, git_url="https://github.com/a/b", git_ref="main", git_path="pipelines/etl")
    assert jobs(in_folder)["etl"]["spec"]["settings"]["tasks"][1]["spark_python_task"]["python_file"] == (
        "pipelines/etl/resources/main.py"
    )
    (tmp_path / "jobs" / "resources" / "etl.yml").write_text(CODE.replace("../src/ingest.py", "../../../up.py"))
    with pytest.raises(ConversionError, match="lies outside the Git repository"):
        convert(path, git_url="https://github.com/a/b", git_ref="main", git_path="")


def test_a_job_with_its_own_git_source_keeps_its_paths(tmp_path: Path) -> None:
    text = CODE.replace(
        "      name: etl\n",
        "      name: etl\n      git_source: {git_url: 'https://github.com/o/r', git_provider: gitHub, git_branch: m}\n",
    )
    text = (
        text.replace("../src/ingest.py", "src/ingest").replace("./main.py", "main.py").replace("/Shared/keep", "keep")
    )
    path = bundle(tmp_path, {"databricks.yml": "include: [resources/*.yml]\n", "resources/etl.yml": text})
    settings = jobs(convert(path, git_url="https://github.com/x/y", git_ref="main"))["etl"]["spec"]["settings"]
    assert settings["git_source"] == {"git_url": "https://github.com/o/r", "git_provider": "gitHub", "git_branch": "m"}
    assert settings["tasks"][0]["notebook_task"] == {"notebook_path": "src/ingest"}


def test_the_command_line_takes_the_bundle_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shop(tmp_path)
    assert main(["convert", str(path), "-t", "prod", "--var", "warehouse=w-x", "-q"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {d["metadata"]["name"] for d in docs} == {"orders", "audit"}
    assert main(["convert", str(path), "--git-url", "https://github.com/a/b"]) == 2
    assert "--git-url and --git-ref go together" in capsys.readouterr().err
    assert main(["convert", str(path), "--var", "novalue"]) == 2
