"""A bundle's ``${resources.jobs.<key>.id}`` → a reference to the DatabricksJob that ``dbjobs convert`` makes of
job ``<key>``.

In a bundle, a job that runs (or waits for) another job of the same bundle names it
``${resources.jobs.<key>.id}``; the bundle CLI fills in the id at deploy time. dbjobs keeps the syntax and resolves it
in the controller, with the DatabricksJob's Kubernetes name as the key (:mod:`controller.api.jobrefs`). Convert
derives each manifest's name from the job's resource key, so the reference is rewritten from the key to that name
(``${resources.jobs.nightly_etl.id}`` → ``${resources.jobs.nightly-etl.id}``) in every field that takes a job id;
the "known only after deploy" warning for that field is then not given. A reference to a key the bundle does not
define for the selected target stays as written and is reported by field (the bundle CLI would refuse it too).
References in other fields (a parameter's text) stay deploy-only references, reported as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.api.jobrefs import job_id_fields, reference, reference_name, with_values
from controller.gitops.conversion import Finding, join_path

#: ``${resources.jobs.<bundle key>.id}`` as the whole value (bundle keys: letters, digits, ``_`` and ``-``).
BUNDLE_JOB_ID = re.compile(r"^\$\{resources\.jobs\.([A-Za-z0-9_\-]+)\.id\}$")


def link_jobs(
    settings: Mapping[str, Any], origin: str, names: Mapping[str, str]
) -> tuple[dict[str, Any], list[str], list[Finding]]:
    """``(settings, paths, findings)``: ``settings`` with each ``${resources.jobs.<key>.id}`` of a job-id field
    whose key is in ``names`` (bundle key → manifest name) rewritten to reference that name; the field paths
    rewritten (``origin`` + path in the settings); one finding per such reference to a key ``names`` lacks."""
    values: dict[tuple[str | int, ...], Any] = {}
    linked: list[str] = []
    findings: list[Finding] = []
    for field in job_id_fields(settings):
        match = BUNDLE_JOB_ID.match(field.value) if isinstance(field.value, str) else None
        if match is None:
            continue
        where = join_path(origin, field.path) if origin else field.path
        key = match.group(1)
        if key in names:
            values[field.parts] = reference(names[key])
            linked.append(where)
        elif reference_name(field.value) is not None:
            message = (
                f"{field.value} names no job of this bundle for the selected target; left as is: the controller waits "
                f"for a DatabricksJob named {key!r} in the namespace (ReferenceNotFound)"
            )
            findings.append((where, message))
        else:
            message = (
                f"{field.value} names no job of this bundle for the selected target, and {key!r} is no Kubernetes "
                f"name: the apiserver refuses the manifest until the field holds a job id or {reference('<name>')}"
            )
            findings.append((where, message))
    return (with_values(settings, values) if values else dict(settings)), linked, findings


def is_deploy_only_warning(finding: Finding, paths: set[str]) -> bool:
    """True for the bundle reader's "unresolved reference" warning on a job-id field linked or reported here
    (``paths`` in the finding's terms: ``[<file>: ]<origin>.<path>``)."""
    path, message = finding
    return path in paths and "${resources.jobs." in message
