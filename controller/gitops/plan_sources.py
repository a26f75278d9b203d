"""Where ``dbjobs plan`` reads from: manifests at Git revisions, DatabricksJobs in a cluster, jobs in a workspace.

Git is read with gitpython from the object database (no checkout; the working tree is not touched). With
``--base``, the base side is the merge base of the base and the revision, as ``git diff BASE...REV`` compares:
what the pull request changes, not what the base branch gained since. A ``--path`` that does not exist at the
base (the pull request that adds the folder) is an empty set of manifests there; at the revision it is an error.
The cluster is read with the Kubernetes
client from a kubeconfig (``--kubeconfig``/``--context``, else the usual ``KUBECONFIG``); the workspace with
the usual databricks-sdk configuration (:mod:`controller.databricks.environment`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from controller.api.models import CLUSTER_WORKSPACE_PLURAL, GROUP, JOB_PLURAL, VERSION, WORKSPACE_PLURAL
from controller.databricks.environment import client_from_environment, workspace_host
from controller.databricks.jobs import ListedJob, list_jobs
from controller.gitops.gitcommit import exists_at, merge_base, open_repo, resolve
from controller.gitops.manifests import ManifestSet, at_revision
from controller.gitops.plan import ClusterObject
from controller.gitops.plan_spec import CLUSTER_KIND, DEFAULT_MAX_DELETIONS, NAMESPACED_KIND


def revisions(
    repo_path: str, rev: str, base: str | None, under: str, namespace: str
) -> tuple[ManifestSet, ManifestSet | None, str]:
    """``(manifests at rev, manifests at the merge base of base and rev or None, description)``.

    Raises :class:`controller.gitops.gitcommit.GitError` for a missing repository or revision.
    """
    repo = open_repo(repo_path)
    head = resolve(repo, rev)
    desired = at_revision(head, under, namespace)
    if base is None:
        return desired, None, f"{rev}@{head.hexsha[:12]}"
    fork = merge_base(repo, resolve(repo, base), head)
    return desired, _at_base(fork, under, namespace), f"{base}...{rev} ({fork.hexsha[:12]}...{head.hexsha[:12]})"


def base_revision(repo_path: str, base: str, under: str, namespace: str) -> tuple[ManifestSet, str]:
    """The manifests at ``base`` (for a plan of files on disk against a revision)."""
    commit = resolve(open_repo(repo_path), base)
    return _at_base(commit, under, namespace), f"{base}@{commit.hexsha[:12]}"


def _at_base(commit: Any, under: str, namespace: str) -> ManifestSet:
    """The manifests of the base side; none when ``under`` does not exist there yet (every job is new)."""
    return at_revision(commit, under, namespace) if exists_at(commit, under) else ManifestSet()


def cluster_objects(
    namespaces: Iterable[str], kubeconfig: str | None = None, context: str | None = None
) -> dict[str, ClusterObject]:
    """Every DatabricksJob of ``namespaces`` (all namespaces when empty), by ``namespace/name``.

    Raises the Kubernetes client's errors (no kubeconfig, ``ApiException`` 403 …).
    """
    api_client = k8s_config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
    api = k8s.CustomObjectsApi(api_client)
    wanted = sorted(set(namespaces))
    lists: list[Any] = (
        [api.list_namespaced_custom_object(GROUP, VERSION, ns, JOB_PLURAL) for ns in wanted]
        if wanted
        else [api.list_cluster_custom_object(GROUP, VERSION, JOB_PLURAL)]
    )
    out = {}
    for listing in lists:
        for obj in listing.get("items") or []:
            meta = obj.get("metadata") or {}
            key = f"{meta.get('namespace')}/{meta.get('name')}"
            out[key] = ClusterObject(key, obj.get("spec") or {}, obj.get("status") or {})
    return out


def deletion_budgets(
    namespaces: Iterable[str], kubeconfig: str | None = None, context: str | None = None
) -> dict[str, int]:
    """``spec.deletionGuard.maxDeletions`` (default 10) of the DatabricksWorkspaces of ``namespaces`` and of every
    ClusterDatabricksWorkspace, keyed as :func:`controller.gitops.plan_spec.workspace_key`. A list the
    kubeconfig may not read (403) is left out: its workspaces count with the default."""
    api = k8s.CustomObjectsApi(k8s_config.new_client_from_config(config_file=kubeconfig, context=context))  # type: ignore[no-untyped-call]
    found: dict[str, int] = {}
    calls: list[tuple[str, Any]] = [
        (NAMESPACED_KIND, lambda ns=ns: api.list_namespaced_custom_object(GROUP, VERSION, ns, WORKSPACE_PLURAL))
        for ns in sorted(set(namespaces))
    ]
    calls.append((CLUSTER_KIND, lambda: api.list_cluster_custom_object(GROUP, VERSION, CLUSTER_WORKSPACE_PLURAL)))
    for kind, call in calls:
        try:
            listing = call()
        except k8s.ApiException:
            continue
        for obj in listing.get("items") or []:
            meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
            guard = spec.get("deletionGuard") or {}
            where = f"{meta.get('namespace')}/" if kind == NAMESPACED_KIND else ""
            found[f"{kind}/{where}{meta.get('name')}"] = int(guard.get("maxDeletions", DEFAULT_MAX_DELETIONS))
    return found


def workspace_jobs(profile: str | None = None) -> tuple[list[ListedJob], str]:
    """``(every job of the workspace, its host)``; raises the SDK's configuration and API errors."""
    client = client_from_environment(profile=profile)
    return list_jobs(client), workspace_host(client)
