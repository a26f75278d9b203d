"""Where ``dbjobs plan`` reads from: manifests at Git revisions, DatabricksJobs in a cluster, jobs in a workspace.

Git is read with gitpython from the object database (no checkout; the working tree is not touched). With
``--base``, the base side is the merge base of the base and the revision, as ``git diff BASE...REV`` compares:
what the pull request changes, not what the base branch gained since. The cluster is read with the Kubernetes
client from a kubeconfig (``--kubeconfig``/``--context``, else the usual ``KUBECONFIG``); the workspace with
the usual databricks-sdk configuration (:mod:`controller.databricks.environment`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from controller.api.models import GROUP, JOB_PLURAL, VERSION
from controller.databricks.environment import client_from_environment, workspace_host
from controller.databricks.jobs import ListedJob, list_jobs
from controller.gitops.gitcommit import merge_base, open_repo, resolve
from controller.gitops.manifests import ManifestSet, at_revision
from controller.gitops.plan import ClusterObject


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
    return desired, at_revision(fork, under, namespace), f"{base}...{rev} ({fork.hexsha[:12]}...{head.hexsha[:12]})"


def base_revision(repo_path: str, base: str, under: str, namespace: str) -> tuple[ManifestSet, str]:
    """The manifests at ``base`` (for a plan of files on disk against a revision)."""
    commit = resolve(open_repo(repo_path), base)
    return at_revision(commit, under, namespace), f"{base}@{commit.hexsha[:12]}"


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


def workspace_jobs(profile: str | None = None) -> tuple[list[ListedJob], str]:
    """``(every job of the workspace, its host)``; raises the SDK's configuration and API errors."""
    client = client_from_environment(profile=profile)
    return list_jobs(client), workspace_host(client)
