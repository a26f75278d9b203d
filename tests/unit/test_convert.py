"""``dbjobs convert`` on small hand-written Jobs API, legacy and dbx inputs, names, errors and the CLI entry
(nothing here comes from the corpus; bundle YAML is in test_convert_bundle.py)."""

from __future__ import annotations

import io
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.gitops.convert import ConversionError, ConversionResult, convert_file
from controller.gitops.convert_cli import convert_main
from controller.gitops.manifest import render

pytestmark = pytest.mark.unit

DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(textwrap.dedent(content), encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def settings_of(result: ConversionResult, i: int = 0) -> dict[str, Any]:
    settings: dict[str, Any] = result.manifests[i]["spec"]["settings"]
    return settings


def has_warning(result: ConversionResult, *parts: str) -> bool:
    return any(all(p in w for p in parts) for w in result.warnings)


# --- Jobs API shapes -------------------------------------------------------------------------------


def test_create_body_keeps_settings_and_drops_format(tmp_path: Path) -> None:
    body = {
        "name": "Nightly ETL",
        "format": "MULTI_TASK",
        "max_concurrent_runs": 1,
        "tasks": [
            {"task_key": "a", "notebook_task": {"notebook_path": "/x"}},
            {
                "task_key": "b",
                "depends_on": [{"task_key": "a"}],
                "spark_python_task": {"python_file": "/y.py"},
                "existing_cluster_id": "c",
            },
        ],
    }
    result = convert_file(write(tmp_path, "etl.json", body), namespace="jobs", workspace_ref="prod")
    manifest = result.manifests[0]
    assert list(manifest) == ["apiVersion", "kind", "metadata", "spec"]
    assert manifest["apiVersion"] == "dbjobs.io/v1alpha1" and manifest["kind"] == "DatabricksJob"
    assert manifest["metadata"]["name"] == "nightly-etl"
    assert manifest["metadata"]["namespace"] == "jobs"
    assert manifest["metadata"]["annotations"] == {"dbjobs.io/source": "etl.json"}
    assert manifest["spec"]["workspaceRef"] == {"name": "prod"}
    settings = settings_of(result)
    assert "format" not in settings
    assert [t["task_key"] for t in settings["tasks"]] == ["a", "b"]
    assert result.warnings == [] and result.refused == []


def test_a_field_that_is_not_part_of_task_is_refused_not_kept(tmp_path: Path) -> None:
    body = {"name": "j", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}, "retries_please": 3}]}
    result = convert_file(write(tmp_path, "etl.json", body))
    assert result.manifests == []
    (line,) = result.refused
    assert line.startswith("etl.json: tasks[0].retries_please: ") and line.endswith("[rule task-field]")
    assert not result.warnings  # the refusal, not also a warning


@pytest.mark.parametrize(
    ("task", "path", "rule"),
    [
        (
            {"notebook_task": {"notebook_path": "/n"}, "condition_task": {"op": "EQUAL_TO", "left": "a", "right": "b"}},
            "tasks[0]",
            "task-type",
        ),
        ({}, "tasks[0]", "task-type"),
        (
            {"notebook_task": {"notebook_path": "src/nb"}},
            "tasks[0].notebook_task.notebook_path",
            "workspace-path-absolute",
        ),
        (
            {"sql_task": {"warehouse_id": "w", "file": {"path": "q.sql", "source": "WORKSPACE"}}},
            "tasks[0].sql_task.file.path",
            "workspace-path-absolute",
        ),
        (
            {"notebook_task": {"notebook_path": "nb", "source": "GIT"}},
            "tasks[0].notebook_task.source",
            "git-source-required",
        ),
        (
            {"spark_python_task": {"python_file": "file://main.py"}, "existing_cluster_id": "c"},
            "tasks[0].spark_python_task.python_file",
            "no-file-uri",
        ),
        ({"python_wheel_task": {"package_name": "p", "entry_point": "e"}}, "tasks[0]", "serverless-environment"),
    ],
)
def test_each_refusal_rule_refuses_the_job_naming_field_and_rule(
    tmp_path: Path, task: dict[str, Any], path: str, rule: str
) -> None:
    body = {"name": "j", "tasks": [{"task_key": "a", **task}]}
    result = convert_file(write(tmp_path, "j.json", body))
    assert result.manifests == [] and result.refused_jobs == [body]
    assert any(line.startswith(f"j.json: {path}: ") and line.endswith(f"[rule {rule}]") for line in result.refused), (
        result.refused
    )


def test_an_absolute_path_under_git_source_is_refused_and_a_relative_one_converts(tmp_path: Path) -> None:
    git = {"git_url": "https://github.com/o/r", "git_provider": "gitHub", "git_branch": "main"}
    bad = {"name": "j", "git_source": git, "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/nb"}}]}
    result = convert_file(write(tmp_path, "bad.json", bad))
    assert result.refused == [
        "bad.json: tasks[0].notebook_task.notebook_path: '/nb': a path in the job's Git repository must be relative "
        "[rule git-path-relative]"
    ]
    good = {"name": "j", "git_source": git, "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "nb"}}]}
    assert convert_file(write(tmp_path, "good.json", good)).manifests


def test_a_depends_on_cycle_is_refused_before_any_call(tmp_path: Path) -> None:
    nb = {"notebook_path": "/n"}
    tasks = [
        {"task_key": "a", "depends_on": [{"task_key": "b"}], "notebook_task": nb},
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": nb},
    ]
    result = convert_file(write(tmp_path, "c.json", {"name": "c", "tasks": tasks}))
    assert result.refused == ["c.json: tasks[0].depends_on: dependency cycle a -> b -> a [rule depends-on-cycle]"]


def test_a_job_without_name_gets_the_manifest_name(tmp_path: Path) -> None:
    result = convert_file(write(tmp_path, "nameless.json", {"tasks": []}))
    assert settings_of(result)["name"] == "nameless"
    assert has_warning(result, "no name")


def test_namespace_only_when_given(tmp_path: Path) -> None:
    result = convert_file(write(tmp_path, "j.json", {"name": "j", "tasks": []}))
    assert "namespace" not in result.manifests[0]["metadata"]


def test_jobs_get_response_unwraps_settings_and_drops_response_fields(tmp_path: Path) -> None:
    response = {
        "job_id": 42,
        "created_time": 1,
        "creator_user_name": "a@b.c",
        "run_as_user_name": "a@b.c",
        "run_as_owner": True,
        "settings": {
            "name": "Reader",
            "format": "MULTI_TASK",
            "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/n"}}],
        },
    }
    result = convert_file(write(tmp_path, "get.json", response))
    settings = settings_of(result)
    assert set(settings) == {"name", "tasks"}
    assert result.manifests[0]["metadata"]["annotations"]["dbjobs.io/source"] == "get.json#settings"
    assert result.warnings == []


def test_legacy_single_task_job_becomes_one_task(tmp_path: Path) -> None:
    legacy = {
        "name": "Old job (v2.0)",
        "new_cluster": {"spark_version": "7.3.x-scala2.12", "num_workers": 1},
        "libraries": [{"jar": "dbfs:/a.jar"}],
        "spark_jar_task": {"main_class_name": "Main"},
        "max_retries": 2,
        "min_retry_interval_millis": 1000,
        "retry_on_timeout": True,
        "timeout_seconds": 60,
        "email_notifications": {"on_failure": ["x@example.com"]},
        "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
    }
    result = convert_file(write(tmp_path, "old.json", legacy))
    settings = settings_of(result)
    assert set(settings) == {"name", "email_notifications", "schedule", "tasks"}
    (task,) = settings["tasks"]
    assert task["task_key"] == "Old_job_v2_0"
    assert re.fullmatch(r"[\w-]+", task["task_key"])
    for moved in (
        "new_cluster",
        "libraries",
        "spark_jar_task",
        "max_retries",
        "min_retry_interval_millis",
        "retry_on_timeout",
        "timeout_seconds",
    ):
        assert task[moved] == legacy[moved]
    assert result.warnings == []


def test_legacy_unknown_field_reported_at_its_source_path(tmp_path: Path) -> None:
    legacy = {"name": "x", "notebook_task": {"notebook_path": "/n", "bogus": 1}}
    result = convert_file(write(tmp_path, "l.json", legacy))
    assert has_warning(result, "l.json: notebook_task.bogus:", "NotebookTask")


def test_dbx_deployment_json_picks_default_env_or_target(tmp_path: Path) -> None:
    dbx = {
        "default": {
            "jobs": [
                {"name": "one", "spark_python_task": {"python_file": "dbfs:/a.py"}, "new_cluster": {"num_workers": 1}},
                {
                    "name": "two",
                    "tasks": [
                        {
                            "task_key": "t",
                            "deployment_config": {"no_package": True},
                            "notebook_task": {"notebook_path": "/n"},
                        }
                    ],
                },
            ]
        },
        "prod": {"jobs": [{"name": "three", "tasks": []}]},
    }
    path = write(tmp_path, "deployment.json", dbx)
    result = convert_file(path)
    assert [m["metadata"]["name"] for m in result.manifests] == ["one", "two"]
    assert settings_of(result, 0)["tasks"][0]["task_key"] == "one"
    assert "deployment_config" not in settings_of(result, 1)["tasks"][0]
    assert has_warning(result, "default.jobs[1].tasks[0].deployment_config", "dbx-only")
    assert [m["metadata"]["name"] for m in convert_file(path, target="prod").manifests] == ["three"]
    with pytest.raises(ConversionError, match=r"deployment\.json.*'nope'"):
        convert_file(path, target="nope")


def test_dbx_deployment_yaml_with_anchors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "deployment.yml",
        """\
        custom:
          cluster: &cluster
            new_cluster: {spark_version: "13.3.x-scala2.12", num_workers: 0}
        environments:
          default:
            workflows:
              - name: wf
                tasks:
                  - task_key: main
                    <<: *cluster
                    spark_python_task: {python_file: "dbfs:/main.py"}
              - name: local
                tasks:
                  - task_key: main
                    <<: *cluster
                    spark_python_task: {python_file: "file://main.py"}
        """,
    )
    result = convert_file(path)
    task = settings_of(result)["tasks"][0]
    assert task["new_cluster"]["num_workers"] == 0
    (line,) = result.refused  # dbx's file:// is a file it uploads: Databricks cannot read it
    assert "environments.default.workflows[1].tasks[0].spark_python_task.python_file:" in line
    assert line.endswith("[rule no-file-uri]")
    rendered = render(result.manifests)
    assert "&" not in rendered and "*" not in rendered  # the anchor is expanded, not carried over


def test_unknown_dynamic_reference_and_dangling_keys_are_reported(tmp_path: Path) -> None:
    body = {
        "name": "j",
        "tasks": [
            {
                "task_key": "a",
                "job_cluster_key": "missing",
                "condition_task": {"op": "EQUAL_TO", "left": "{{MY_TOKEN}}", "right": "{{tasks.a.values.x}}"},
            },
        ],
    }
    result = convert_file(write(tmp_path, "j.json", body))
    assert has_warning(result, "tasks[0].job_cluster_key", "'missing'")
    assert has_warning(result, "tasks[0].condition_task.left", "{{MY_TOKEN}}")
    assert not has_warning(result, "{{tasks.a.values.x}}")


# --- names -----------------------------------------------------------------------------------------


def test_names_are_dns_1123_and_unique(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "deployment.json",
        {
            "default": {
                "jobs": [
                    {"name": "Same Name!", "tasks": []},
                    {"name": "same_name", "tasks": []},
                    {"name": "___", "tasks": []},
                    {"name": "x" * 300, "tasks": []},
                ]
            }
        },
    )
    names = [m["metadata"]["name"] for m in convert_file(path).manifests]
    assert names[:2] == ["same-name", "same-name-2"]
    assert len(set(names)) == len(names)
    assert all(DNS_1123.fullmatch(n) and len(n) <= 63 for n in names)


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("bad.yaml", "a: [1, 2\nb: {{ if .x }}\n", r"bad\.yaml: line \d+, column \d+: not valid YAML"),
        ("tmpl.yaml", "jobs:\n  j:\n    name: {{ if .x }}a{{ end }}\n    t: [\n", r"tmpl\.yaml: .*Go template"),
        ("bad.json", '{"name": "x",', r"bad\.json: line 1, column \d+: not valid JSON"),
        ("nothing.yaml", "foo: bar\n", r"nothing\.yaml: no job found"),
        ("list.json", "[1, 2]", r"list\.json: no job found"),
        ("empty.yaml", "", r"empty\.yaml: no job found"),
        ("nojobs.yml", "bundle: {name: x}\nresources: {pipelines: {p: {name: p}}}\n", r"nojobs\.yml: no job found"),
    ],
)
def test_unconvertible_files_raise_conversion_error(tmp_path: Path, name: str, content: str, pattern: str) -> None:
    with pytest.raises(ConversionError, match=pattern):
        convert_file(write(tmp_path, name, content))


def test_convert_main_stdout_exit_codes_and_atomic_output(tmp_path: Path) -> None:
    good = write(
        tmp_path, "good.json", {"name": "good", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/n"}}]}
    )
    bad = write(tmp_path, "bad.yaml", "a: [\n")
    out, err = io.StringIO(), io.StringIO()
    assert convert_main([str(good), str(bad)], stdout=out, stderr=err) == 1
    docs = list(yaml.safe_load_all(out.getvalue()))
    assert [d["metadata"]["name"] for d in docs] == ["good"]
    assert all(line.startswith("dbjobs convert:") for line in err.getvalue().splitlines())
    assert "good.json" not in err.getvalue()  # no warnings, no count line
    assert "bad.yaml" in err.getvalue()

    out_dir = tmp_path / "out"
    assert convert_main([str(bad)], output_dir=str(out_dir), stdout=io.StringIO(), stderr=io.StringIO()) == 1
    assert list(out_dir.iterdir()) == []
    assert convert_main([str(good)], output_dir=str(out_dir), stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["good.yaml"]
    assert yaml.safe_load((out_dir / "good.yaml").read_text())["spec"]["settings"]["name"] == "good"
    assert convert_main([], stdout=io.StringIO(), stderr=io.StringIO()) == 2


def test_names_unique_across_files_in_one_run(tmp_path: Path) -> None:
    a = write(tmp_path, "a.json", {"name": "dup", "tasks": []})
    b = write(tmp_path, "b.json", {"name": "dup", "tasks": []})
    out = io.StringIO()
    assert convert_main([str(a), str(b)], stdout=out, stderr=io.StringIO()) == 0
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(out.getvalue())] == ["dup", "dup-2"]


# --- output polish ---------------------------------------------------------------------------------


def test_output_dir_refuses_to_overwrite_a_different_file_unless_forced(tmp_path: Path) -> None:
    job = {"name": "j", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/n"}}]}
    src, out = write(tmp_path, "j.json", job), tmp_path / "out"
    assert convert_main([str(src)], output_dir=str(out), stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert convert_main([str(src)], output_dir=str(out), stdout=io.StringIO(), stderr=io.StringIO()) == 0  # same
    (out / "j.yaml").write_text("# mine\n")
    err = io.StringIO()
    assert convert_main([str(src)], output_dir=str(out), stdout=io.StringIO(), stderr=err) == 1
    assert "would overwrite 1 different file(s): j.yaml (use --force to replace)" in err.getvalue()
    assert (out / "j.yaml").read_text() == "# mine\n"
    assert convert_main([str(src)], output_dir=str(out), force=True, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert yaml.safe_load((out / "j.yaml").read_text())["metadata"]["name"] == "j"


def test_warnings_are_grouped_per_file_with_a_count_and_quiet_hides_them(tmp_path: Path) -> None:
    task = {
        "task_key": "t",
        "job_cluster_key": "nope",
        "condition_task": {"op": "EQUAL_TO", "left": "{{X}}", "right": "1"},
    }
    a = write(tmp_path, "a.json", {"name": "a", "tasks": [task]})
    b = write(tmp_path, "b.json", {"name": "b", "tasks": []})
    err = io.StringIO()
    assert convert_main([str(a), str(b)], stdout=io.StringIO(), stderr=err) == 0
    lines = err.getvalue().splitlines()
    assert lines[0] == "dbjobs convert: a.json: 2 warnings"
    assert all(line.startswith("dbjobs convert: warning: a.json: tasks[0].") for line in lines[1:3])
    assert len(lines) == 3  # b.json has none: no line at all
    quiet = io.StringIO()
    assert convert_main([str(a), str(b)], quiet=True, stdout=io.StringIO(), stderr=quiet) == 0
    assert quiet.getvalue() == ""


def test_refusals_end_with_the_rule_and_its_public_source(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", {"name": "b", "tasks": [{"task_key": "t"}]})
    err = io.StringIO()
    assert convert_main([str(bad)], stdout=io.StringIO(), stderr=err) == 1
    text = err.getvalue()
    assert "dbjobs convert: refused: bad.json: tasks[0]: sets no task type" in text
    assert "dbjobs convert: rule task-type: a task sets exactly one task type" in text and "source: https://" in text


def test_a_progress_line_on_long_runs(tmp_path: Path) -> None:
    files = [str(write(tmp_path, f"j{i:02d}.json", {"name": f"j{i}", "tasks": []})) for i in range(25)]
    err = io.StringIO()
    assert convert_main(files, stdout=io.StringIO(), stderr=err) == 0
    progress = [line for line in err.getvalue().splitlines() if "progress:" in line]
    assert (
        progress[0] == "dbjobs convert: progress: 2/25 files"
        and progress[-1] == "dbjobs convert: progress: 25/25 files"
    )
    assert len(progress) == 13
    quiet = io.StringIO()
    convert_main(files, quiet=True, stdout=io.StringIO(), stderr=quiet)
    assert "progress" not in quiet.getvalue()
