"""The controller's runtime settings, read once from the environment at start.

Every setting is an environment variable so the Helm chart (``charts/dbjobs/values.yaml``) and a person
running ``dbjobs run`` by hand use the same names. Durations are seconds.

=================================  =========================================================  ===========
variable                           meaning                                                    default
=================================  =========================================================  ===========
``DBJOBS_POLL_INTERVAL_SECONDS``   how often each job is re-read for drift and run health     ``60``
``DBJOBS_WATCH_NAMESPACES``        comma-separated namespaces to watch; empty = all            empty
``DBJOBS_LOG_LEVEL``               ``DEBUG`` | ``INFO`` | ``WARNING`` | ``ERROR``             ``INFO``
``DBJOBS_LOG_FORMAT``              ``text`` (one line, ``[namespace/name]`` prefix) | ``json``  ``text``
``DBJOBS_METRICS_PORT``            port of Prometheus ``/metrics``; empty = not served         empty
``DBJOBS_METRICS_BIND_ADDRESS``    address ``/metrics`` listens on                            ``0.0.0.0``
``DBJOBS_HEALTH_PORT``             port of ``GET /healthz`` (liveness/readiness); empty = off  empty
``DBJOBS_SHUTDOWN_SECONDS``        on SIGTERM, how long in-flight work may take before it is   ``10``
                                   abandoned (must be below ``terminationGracePeriodSeconds``)
``DBJOBS_WATCH_TIMEOUT_SECONDS``   a watch of the apiserver ends after this long and is opened  ``300``
                                   again; one silent this long plus 10 s is dropped as dead
``DBJOBS_CLUSTER_NAME``            names this cluster in the owner tag, so two clusters that   empty
                                   manage one workspace never claim each other's jobs
``DBJOBS_ALLOWED_HOSTS``           comma-separated URL patterns (``fnmatch``, scheme included)  (2)
                                   a DatabricksWorkspace host must match before any credential
                                   is read or sent
``DBJOBS_WORKLOAD_IDENTITY_TOKEN_FILE``  the projected ServiceAccount token ``auth.workloadIdentity``   (3)
                                   exchanges (re-read at every refresh: the kubelet rotates it)
``DBJOBS_WORKLOAD_IDENTITY_CLIENTS``  comma-separated ``NAMESPACE=CLIENT_ID`` (``fnmatch``        empty
                                   patterns): which namespaces' workspaces may use which
                                   service principal through workload identity; empty = none
``POD_NAMESPACE``                  the controller's own namespace (downward API): where the     (1)
                                   Secrets of ClusterDatabricksWorkspaces are read
=================================  =========================================================  ===========

(2) The public clouds' workspace domains, https only: :data:`DEFAULT_ALLOWED_HOSTS`.
(3) :data:`DEFAULT_WORKLOAD_IDENTITY_TOKEN_FILE`, where the chart mounts it.

Leader election (several replicas, one active; :mod:`controller.operator.leader`), whole seconds:

=================================================  ============================================  =====================
variable                                           meaning                                       default
=================================================  ============================================  =====================
``DBJOBS_LEADER_ELECTION``                         ``true``: wait as a follower until this       ``false``
                                                   process holds the Lease, then reconcile
``DBJOBS_LEADER_ELECTION_NAMESPACE``               namespace of the Lease                        the pod's (1)
``DBJOBS_LEADER_ELECTION_LEASE_NAME``              name of the Lease (one per controller/shard)  ``dbjobs-controller``
``DBJOBS_LEADER_ELECTION_LEASE_DURATION_SECONDS``  a follower takes over this long after the     ``15``
                                                   leader's last renewal
``DBJOBS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS``  the leader exits (1) when it could not renew  ``10``
                                                   for this long; below the lease duration
``DBJOBS_LEADER_ELECTION_RETRY_PERIOD_SECONDS``    between two tries to acquire or renew; 1.2x   ``2``
                                                   it must stay below the renew deadline
``POD_NAME``                                       this pod (downward API); the Lease holder is  ``HOSTNAME``
                                                   it plus a random suffix
=================================================  ============================================  =====================

(1) ``POD_NAMESPACE`` (downward API), else the service account's namespace file
(``/var/run/secrets/kubernetes.io/serviceaccount/namespace``); with neither, the variable is required.

Raises ``ConfigError`` (one line naming the variable) for a value that cannot be used.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: Workspace URLs of Databricks on AWS (commercial and GovCloud), Azure (public, China, US Government) and GCP
#: (https://docs.databricks.com/en/workspace/workspace-details.html, "workspace instance names").
DEFAULT_ALLOWED_HOSTS = (
    "https://*.cloud.databricks.com",
    "https://*.cloud.databricks.us",
    "https://*.azuredatabricks.net",
    "https://*.databricks.azure.cn",
    "https://*.databricks.azure.us",
    "https://*.gcp.databricks.com",
)
LOG_FORMATS = ("text", "json")
#: Where the chart mounts the projected ServiceAccount token of workload identity (charts/dbjobs, deployment.yaml).
DEFAULT_WORKLOAD_IDENTITY_TOKEN_FILE = "/var/run/secrets/dbjobs.io/workload-identity/token"
#: Where Kubernetes mounts the pod's namespace with its service account token.
SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
#: The shortest duration setting (seconds): below it the controller would spin.
MIN_SECONDS = 1.0
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


class ConfigError(ValueError):
    """An environment variable holds a value the controller cannot use; the message names it."""


@dataclass(frozen=True)
class LeaderElectionSettings:
    """Where the Lease is and its timing (whole seconds), as the kubernetes client's ``leaderelection`` takes
    them: ``lease_duration_s > renew_deadline_s > 1.2 * retry_period_s >= 1.2``. ``pod_name`` seeds the identity."""

    namespace: str
    lease_name: str = "dbjobs-controller"
    lease_duration_s: int = 15
    renew_deadline_s: int = 10
    retry_period_s: int = 2
    pod_name: str = ""


@dataclass(frozen=True)
class ControllerConfig:
    """The settings above, parsed. ``watch_namespaces`` empty means cluster-wide."""

    poll_interval_s: float = 60.0
    watch_namespaces: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_port: int | None = None
    metrics_bind_address: str = "0.0.0.0"
    health_port: int | None = None
    shutdown_s: float = 10.0
    watch_timeout_s: float = 300.0
    cluster_name: str = ""
    leader_election: LeaderElectionSettings | None = None
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    #: Workload identity (issue 11): the token file, and ``(namespace pattern, client id pattern)`` pairs allowed.
    workload_identity_token_file: str = DEFAULT_WORKLOAD_IDENTITY_TOKEN_FILE
    workload_identity_clients: tuple[tuple[str, str], ...] = ()
    #: The controller's own namespace (issue 11 item 5): ClusterDatabricksWorkspace Secrets live here; "" unknown.
    controller_namespace: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ControllerConfig:
        """Read the settings from ``env`` (default ``os.environ``); unset or empty means the default."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip()

        level = (get("DBJOBS_LOG_LEVEL") or "INFO").upper()
        if level not in LOG_LEVELS:
            raise ConfigError(f"DBJOBS_LOG_LEVEL={level!r}: expected one of {', '.join(LOG_LEVELS)}")
        fmt = (get("DBJOBS_LOG_FORMAT") or "text").lower()
        if fmt not in LOG_FORMATS:
            raise ConfigError(f"DBJOBS_LOG_FORMAT={fmt!r}: expected one of {', '.join(LOG_FORMATS)}")
        namespaces = tuple(n.strip() for n in get("DBJOBS_WATCH_NAMESPACES").split(",") if n.strip())
        for namespace in namespaces:
            if not _DNS_LABEL.fullmatch(namespace):
                raise ConfigError(f"DBJOBS_WATCH_NAMESPACES: {namespace!r} is not a namespace name (RFC 1123 label)")
        return cls(
            poll_interval_s=_seconds(get, "DBJOBS_POLL_INTERVAL_SECONDS", 60.0),
            watch_namespaces=namespaces,
            log_level=level,
            log_format=fmt,
            metrics_port=_port(get, "DBJOBS_METRICS_PORT"),
            metrics_bind_address=get("DBJOBS_METRICS_BIND_ADDRESS") or "0.0.0.0",
            health_port=_port(get, "DBJOBS_HEALTH_PORT"),
            shutdown_s=_seconds(get, "DBJOBS_SHUTDOWN_SECONDS", 10.0),
            watch_timeout_s=_seconds(get, "DBJOBS_WATCH_TIMEOUT_SECONDS", 300.0),
            cluster_name=get("DBJOBS_CLUSTER_NAME"),
            allowed_hosts=_patterns(get, "DBJOBS_ALLOWED_HOSTS") or DEFAULT_ALLOWED_HOSTS,
            leader_election=_leader_election(get),
            workload_identity_token_file=get("DBJOBS_WORKLOAD_IDENTITY_TOKEN_FILE")
            or DEFAULT_WORKLOAD_IDENTITY_TOKEN_FILE,
            workload_identity_clients=_client_pairs(get, "DBJOBS_WORKLOAD_IDENTITY_CLIENTS"),
            controller_namespace=get("POD_NAMESPACE") or _service_account_namespace(),
        )


def _seconds(get: Callable[[str], str], name: str, default: float) -> float:
    raw = get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of seconds") from None
    if not math.isfinite(value) or value < MIN_SECONDS:
        raise ConfigError(f"{name}={raw!r}: expected a finite number of seconds, at least {MIN_SECONDS:g}")
    return value


def _leader_election(get: Callable[[str], str]) -> LeaderElectionSettings | None:
    """The ``DBJOBS_LEADER_ELECTION*`` settings, or None when leader election is off."""
    raw = get("DBJOBS_LEADER_ELECTION").lower()
    if raw not in (*_TRUE, *_FALSE, ""):
        raise ConfigError(f"DBJOBS_LEADER_ELECTION={raw!r}: expected true or false")
    if raw not in _TRUE:
        return None
    namespace = get("DBJOBS_LEADER_ELECTION_NAMESPACE") or get("POD_NAMESPACE") or _service_account_namespace()
    if not namespace:
        raise ConfigError(
            "DBJOBS_LEADER_ELECTION_NAMESPACE is required outside a pod (no POD_NAMESPACE, no service account "
            f"namespace in {SERVICE_ACCOUNT_NAMESPACE_FILE}): the namespace of the Lease"
        )
    lease_name = get("DBJOBS_LEADER_ELECTION_LEASE_NAME") or "dbjobs-controller"
    if len(lease_name) > 253 or not _DNS_SUBDOMAIN.fullmatch(lease_name):
        raise ConfigError(f"DBJOBS_LEADER_ELECTION_LEASE_NAME={lease_name!r}: expected a DNS subdomain name")
    prefix = "DBJOBS_LEADER_ELECTION_"
    lease = _whole_seconds(get, f"{prefix}LEASE_DURATION_SECONDS", 15)
    renew = _whole_seconds(get, f"{prefix}RENEW_DEADLINE_SECONDS", 10)
    retry = _whole_seconds(get, f"{prefix}RETRY_PERIOD_SECONDS", 2)
    if lease <= renew:
        raise ConfigError(f"{prefix}LEASE_DURATION_SECONDS={lease} must be greater than RENEW_DEADLINE_SECONDS={renew}")
    if renew <= 1.2 * retry:
        raise ConfigError(
            f"{prefix}RENEW_DEADLINE_SECONDS={renew} must be greater than 1.2 x RETRY_PERIOD_SECONDS={retry}"
        )
    pod_name = get("POD_NAME") or get("HOSTNAME") or socket.gethostname()
    return LeaderElectionSettings(namespace, lease_name, lease, renew, retry, pod_name)


def _service_account_namespace() -> str:
    try:
        return SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip()
    except OSError:
        return ""


def _whole_seconds(get: Callable[[str], str], name: str, default: int) -> int:
    raw = get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r}: expected a whole number of seconds, at least 1")
    return int(raw)


def _patterns(get: Callable[[str], str], name: str) -> tuple[str, ...]:
    patterns = tuple(p.strip().lower().rstrip("/") for p in get(name).split(",") if p.strip())
    for pattern in patterns:
        if not pattern.startswith(("https://", "http://")) or "/" in pattern.split("://", 1)[1]:
            raise ConfigError(f"{name}: {pattern!r} is not a URL pattern like https://*.cloud.databricks.com")
    return patterns


def _client_pairs(get: Callable[[str], str], name: str) -> tuple[tuple[str, str], ...]:
    """``team-a=1111-…,team-*=2222-…`` -> ``(("team-a", "1111-…"), ("team-*", "2222-…"))``."""
    pairs = []
    for item in (p.strip() for p in get(name).split(",")):
        if not item:
            continue
        namespace, sep, client = (x.strip() for x in item.partition("="))
        if not sep or not namespace or not client:
            raise ConfigError(f"{name}: {item!r} is not NAMESPACE_PATTERN=CLIENT_ID_PATTERN")
        pairs.append((namespace, client))
    return tuple(pairs)


def _port(get: Callable[[str], str], name: str) -> int | None:
    raw = get(name)
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"{name}={raw!r}: expected a TCP port (1-65535)")
    return int(raw)


#: The settings of this process, read once at import (``dbjobs run`` checks them first and reports a bad
#: value as a one-line error).
CONFIG = ControllerConfig.from_env()
