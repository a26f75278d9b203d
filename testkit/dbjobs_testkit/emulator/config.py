"""Switches for the emulator behaviours that rest on unverified assumptions (spec §10) and the
workspace limits of spec §4.5. One object, :class:`EmulatorConfig`, passed as
``EmulatorServer(config=...)`` / ``Workspace(config=...)``; its fields may be changed at run time
(``emu.workspace.config.max_saved_jobs = 3``) or through ``POST /_emulator/config``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

NotFoundStyle = Literal["legacy400", "rest404"]
Cloud = Literal["none", "aws"]

NOT_FOUND_STYLES: tuple[NotFoundStyle, ...] = ("legacy400", "rest404")
CLOUDS: tuple[Cloud, ...] = ("none", "aws")


@dataclass
class EmulatorConfig:
    """Configurable behaviour of one emulated workspace.

    * ``not_found_style``: ``"legacy400"`` (default; 400 ``INVALID_PARAMETER_VALUE`` "Job <id> does
      not exist.", the documented behaviour through 2024, §2.3) or ``"rest404"`` (404
      ``RESOURCE_DOES_NOT_EXIST`` with the same message, as Databricks' own fake answers).
    * ``max_saved_jobs``: jobs a workspace may hold (§4.5, default 10,000); one more create is
      answered 400 ``QUOTA_EXCEEDED``.
    * ``max_job_creations_per_hour``: ``jobs/create`` calls accepted in any 3,600 s window of the
      workspace clock (§4.5, default 10,000); beyond it 400 ``INVALID_STATE`` with the KB message.
    * ``default_job_name``: the ``settings.name`` stored when a write omits it; ``None`` (default)
      stores nothing. The OpenAPI default is ``"Untitled"``; whether the service echoes it is
      unverified (§10).
    * ``cloud``: ``"none"`` (default) adds no cloud-specific cluster defaults; ``"aws"`` fills
      ``new_cluster.aws_attributes`` and ``data_security_mode`` as Databricks' fake does (§4.3).
    * ``computed_task_defaults``: when True, tasks also get the fields Terraform marks as computed
      (§4.3): ``retry_on_timeout: false``, ``spark_jar_task.run_as_repl: true``,
      ``dbt_task.schema: "default"``. Off by default: the values are not confirmed by a cloud trace.
    """

    not_found_style: NotFoundStyle = "legacy400"
    max_saved_jobs: int = 10_000
    max_job_creations_per_hour: int = 10_000
    default_job_name: str | None = None
    cloud: Cloud = "none"
    computed_task_defaults: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON."""
        return asdict(self)

    def update(self, values: dict[str, Any]) -> None:
        """Set the given fields after checking names and types; ``ValueError`` names a bad one."""
        known = {f.name for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"{name}: unknown emulator setting (known: {', '.join(sorted(known))}).")
            _check(name, value)
        for name, value in values.items():
            setattr(self, name, value)


def _check(name: str, value: Any) -> None:
    if name == "not_found_style" and value not in NOT_FOUND_STYLES:
        raise ValueError(f"not_found_style: must be one of {', '.join(NOT_FOUND_STYLES)}.")
    if name == "cloud" and value not in CLOUDS:
        raise ValueError(f"cloud: must be one of {', '.join(CLOUDS)}.")
    if name in ("max_saved_jobs", "max_job_creations_per_hour") and (
        isinstance(value, bool) or not isinstance(value, int) or value < 0
    ):
        raise ValueError(f"{name}: must be a non-negative integer.")
    if name == "default_job_name" and value is not None and not isinstance(value, str):
        raise ValueError("default_job_name: must be a string or null.")
    if name == "computed_task_defaults" and not isinstance(value, bool):
        raise ValueError("computed_task_defaults: must be true or false.")
