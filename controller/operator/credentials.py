"""A workspace's host and credential: the DatabricksWorkspace from the registry (a watch, no GET), its Secret
read once and cached — re-read after ``SECRET_TTL_S`` seconds, or at once when Databricks refuses the credential,
so a Secret rotated in place is used without a restart and Kubernetes reads do not grow with jobs or cycles.

``spec.auth`` (:mod:`controller.api.auth`) says which credential: a personal access token (``pat``, or the older
``tokenSecretRef``), a service principal's OAuth client id and secret (``oauthM2M``), or the controller's own
projected ServiceAccount token (``workloadIdentity``: no Secret; the platform allows it per namespace and service
principal, ``DBJOBS_WORKLOAD_IDENTITY_CLIENTS``). What is resolved is a
:class:`~controller.databricks.auth.Auth`, whose ``repr`` shows no secret.

A job may only use a DatabricksWorkspace in its own namespace, and that workspace's Secret must be in the
same namespace (no cross-namespace references: a tenant cannot borrow another tenant's credentials).
"""

from __future__ import annotations

import base64
import fnmatch
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from controller.api.auth import WorkspaceAuth
from controller.api.models import DatabricksWorkspaceSpec
from controller.api.workspace import HOST_PATTERN
from controller.databricks.auth import OAUTH_M2M, WORKLOAD_IDENTITY, Auth
from controller.operator.logs import never_log
from controller.operator.registry import Registry
from controller.reconcile.outcome import Problem
from controller.reconcile.reasons import Reason

#: Seconds a Secret read stays good (a rotation is seen within this, or at the first refused call).
SECRET_TTL_S = 300.0
#: A Secret the controller may read opts in with this label (value "true") or this type.
OPT_IN_LABEL = "dbjobs.io/credentials"
OPT_IN_TYPE = "dbjobs.io/databricks-credentials"


_HOST = re.compile(HOST_PATTERN)
#: A token, client id or client secret: printable ASCII without spaces (an HTTP header cannot hold the rest).
_CREDENTIAL = re.compile(r"^[\x21-\x7e]+$")


def normalized_host(host: str) -> str | None:
    """``scheme://hostname[:port]`` of ``host`` in lower case, or None when it is not a plain http(s) URL (user
    info, a path, a query or a fragment make it None: such a URL could say one host and reach another)."""
    if not _HOST.match(host.strip()):  # a backslash or user info could say one host and reach another
        return None
    try:
        url = urllib.parse.urlsplit(host.strip())
        port = url.port
    except ValueError:
        return None
    if url.scheme not in ("https", "http") or not url.hostname or url.username or url.password:
        return None
    if url.path not in ("", "/") or url.query or url.fragment:
        return None
    return f"{url.scheme}://{url.hostname}" + (f":{port}" if port else "")


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``host`` matches one of the platform's URL ``patterns`` (``fnmatch``, e.g.
    ``https://*.cloud.databricks.com``). Pure."""
    normal = normalized_host(host)
    return normal is not None and any(fnmatch.fnmatchcase(normal, p.lower()) for p in patterns)


@dataclass(frozen=True)
class Credentials:
    """A resolved workspace: ``host`` (URL, no trailing slash), ``auth`` (the credential, :class:`Auth`), budget
    ``rate``/``burst``. Its ``repr`` shows no secret."""

    host: str
    auth: Auth
    rate: float | None = None
    burst: int | None = None


class CredentialError(Exception):
    """The workspace cannot be used; ``problem`` is the condition to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def load_kube_config() -> None:
    """Configure the Kubernetes client: in-cluster service account if present, else KUBECONFIG."""
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]


class SecretCache:
    """Token Secrets by ``(namespace, name, key)``; blocking reads (call from a worker thread)."""

    def __init__(self, ttl_s: float = SECRET_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, str, str], tuple[float, str]] = {}

    def invalidate(self, namespace: str, name: str) -> None:
        """Forget every key of Secret ``namespace/name`` (Databricks refused its token)."""
        for key in [k for k in self._cache if k[:2] == (namespace, name)]:
            del self._cache[key]

    def token(self, namespace: str, name: str, key: str, workspace: str, field: str = "spec.tokenSecretRef") -> str:
        """The value in Secret ``namespace/name`` under ``key`` (``field``: where the workspace names it, for
        messages). Raises ``CredentialError`` (SecretNotFound, SecretNotAllowed) when the Secret or key is missing
        or the Secret did not opt in, and the client's ``ApiException`` for other API failures."""
        cached = self._cache.get((namespace, name, key))
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        try:
            api = kubernetes.client.CoreV1Api()
            secret = api.read_namespaced_secret(name, namespace, _request_timeout=(10.0, 60.0))
        except ApiException as err:
            if err.status == 404:
                msg = f"Secret {namespace}/{name} named by DatabricksWorkspace {workspace} ({field}) does not exist"
                raise CredentialError(Problem(Reason.SECRET_NOT_FOUND, msg)) from err
            raise
        labels = (secret.metadata.labels or {}) if secret.metadata else {}
        if labels.get(OPT_IN_LABEL) != "true" and secret.type != OPT_IN_TYPE:
            msg = (
                f"Secret {namespace}/{name} (DatabricksWorkspace {workspace} {field}) is not marked for "
                f"dbjobs: label it {OPT_IN_LABEL}=true (or give it type {OPT_IN_TYPE}); the controller reads no other "
                "Secret"
            )
            raise CredentialError(Problem(Reason.SECRET_NOT_ALLOWED, msg))
        data = (secret.data or {}).get(key)
        if not data:
            msg = f"Secret {namespace}/{name} has no key {key!r} (DatabricksWorkspace {workspace} {field})"
            raise CredentialError(Problem(Reason.SECRET_NOT_FOUND, msg))
        token = base64.b64decode(data).decode(errors="replace").strip()
        if not _CREDENTIAL.match(token):
            msg = (
                f"Secret {namespace}/{name} key {key!r} (DatabricksWorkspace {workspace} {field}) holds a value no "
                "credential can hold (a line break, a space or a control character inside it): fix the Secret; "
                "nothing was sent"
            )
            raise CredentialError(Problem(Reason.SECRET_NOT_ALLOWED, msg))
        never_log(token)
        self._cache[(namespace, name, key)] = (time.monotonic(), token)
        return token


@dataclass(frozen=True)
class WorkloadIdentity:
    """The controller's workload identity: ``token_file`` (its projected ServiceAccount token) and ``clients``,
    the ``(namespace pattern, client id pattern)`` pairs the platform allows (``fnmatch``)."""

    token_file: str = ""
    clients: tuple[tuple[str, str], ...] = ()

    def allows(self, namespace: str, client_id: str) -> bool:
        return any(fnmatch.fnmatchcase(namespace, n) and fnmatch.fnmatchcase(client_id, c) for n, c in self.clients)


def resolve(
    registry: Registry,
    secrets: SecretCache,
    namespace: str,
    name: str,
    allowed_hosts: tuple[str, ...],
    workload: WorkloadIdentity | None = None,
    controller_namespace: str = "",
) -> Credentials:
    """Credentials of DatabricksWorkspace ``namespace/name``, or of ClusterDatabricksWorkspace ``name`` when
    ``namespace`` is "" (its Secrets, and its workload identity permission, are the ``controller_namespace``'s)
    (blocking: may read the Secret). The host is checked
    against ``allowed_hosts`` before any Secret is read, so a credential never goes to a host the platform did
    not allow; workload identity only for a service principal ``workload`` allows in this namespace.

    Raises ``CredentialError`` (WorkspaceNotFound, HostNotAllowed, SecretNotFound, SecretNotAllowed,
    IdentityNotAllowed) and ``ApiException``."""
    ws = registry.workspaces.get((namespace, name))
    what = f"DatabricksWorkspace {namespace}/{name}" if namespace else f"ClusterDatabricksWorkspace {name}"
    if ws is None:
        msg = f"{what} (spec.workspaceRef) does not exist"
        raise CredentialError(Problem(Reason.WORKSPACE_NOT_FOUND, msg))
    if not namespace:  # the platform's: its Secrets are in the controller's own namespace, never a tenant's
        if not controller_namespace:
            msg = (
                f"ClusterDatabricksWorkspace {name}: the controller does not know its own namespace, where this "
                "workspace's Secrets live (set POD_NAMESPACE; the chart does)"
            )
            raise CredentialError(Problem(Reason.SECRET_NOT_FOUND, msg))
        namespace = controller_namespace
    try:
        spec = DatabricksWorkspaceSpec.model_validate(ws.spec)
    except ValidationError as err:
        msg = f"{what} is invalid: {err.errors()[0].get('msg')}"
        raise CredentialError(Problem(Reason.WORKSPACE_NOT_FOUND, msg)) from err
    if not host_allowed(spec.host, allowed_hosts):
        msg = (
            f"{what} host {spec.host!r} is not allowed by this controller "
            f"(allowed: {', '.join(allowed_hosts)}; the platform sets DBJOBS_ALLOWED_HOSTS, chart value allowedHosts)"
        )
        raise CredentialError(Problem(Reason.HOST_NOT_ALLOWED, msg))
    auth = _auth(spec.effective_auth, spec.token_secret_ref is not None, secrets, namespace, name, workload)
    budget: Any = spec.request_budget
    return Credentials(
        normalized_host(spec.host) or spec.host.rstrip("/"),
        auth,
        rate=budget.requests_per_second if budget else None,
        burst=budget.burst if budget else None,
    )


def _auth(
    auth: WorkspaceAuth,
    shorthand: bool,
    secrets: SecretCache,
    namespace: str,
    name: str,
    workload: WorkloadIdentity | None,
) -> Auth:
    """The credential ``auth`` describes, read from its Secret (none for workload identity)."""
    if auth.oauth_m2m is not None:
        m2m, field = auth.oauth_m2m, "spec.auth.oauthM2M.secretRef"
        client_id = secrets.token(namespace, m2m.secret_ref.name, m2m.client_id_key, name, field)
        client_secret = secrets.token(namespace, m2m.secret_ref.name, m2m.client_secret_key, name, field)
        return Auth(OAUTH_M2M, client_id=client_id, client_secret=client_secret)
    if auth.workload_identity is not None:
        client_id = auth.workload_identity.client_id
        if workload is None or not workload.allows(namespace, client_id):
            msg = (
                f"DatabricksWorkspace {namespace}/{name}: workload identity as service principal {client_id} is not "
                f"allowed in namespace {namespace} (the platform sets DBJOBS_WORKLOAD_IDENTITY_CLIENTS, chart value "
                "auth.workloadIdentity.allowedClients)"
            )
            raise CredentialError(Problem(Reason.IDENTITY_NOT_ALLOWED, msg))
        return Auth(WORKLOAD_IDENTITY, client_id=client_id, token_file=workload.token_file)
    assert auth.pat is not None  # WorkspaceAuth holds exactly one
    ref, field = auth.pat.secret_ref, "spec.tokenSecretRef" if shorthand else "spec.auth.pat.secretRef"
    return Auth.pat(secrets.token(namespace, ref.name, ref.key, name, field))


def secret_name(spec: dict[str, Any]) -> str | None:
    """The name of the Secret a DatabricksWorkspace ``spec`` (as watched) reads, if any (to forget it when
    Databricks refused the credential)."""
    try:
        auth = DatabricksWorkspaceSpec.model_validate(spec).effective_auth
    except ValidationError:
        return None
    if auth.pat is not None:
        return auth.pat.secret_ref.name
    return auth.oauth_m2m.secret_ref.name if auth.oauth_m2m is not None else None
