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
``DBJOBS_CLUSTER_NAME``            names this cluster in the owner tag, so two clusters that   empty
                                   manage one workspace never claim each other's jobs
=================================  =========================================================  ===========

Raises ``ConfigError`` (one line naming the variable) for a value that cannot be used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    """An environment variable holds a value the controller cannot use; the message names it."""


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
    cluster_name: str = ""

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
        return cls(
            poll_interval_s=_seconds(get, "DBJOBS_POLL_INTERVAL_SECONDS", 60.0),
            watch_namespaces=namespaces,
            log_level=level,
            log_format=fmt,
            metrics_port=_port(get, "DBJOBS_METRICS_PORT"),
            metrics_bind_address=get("DBJOBS_METRICS_BIND_ADDRESS") or "0.0.0.0",
            health_port=_port(get, "DBJOBS_HEALTH_PORT"),
            shutdown_s=_seconds(get, "DBJOBS_SHUTDOWN_SECONDS", 10.0),
            cluster_name=get("DBJOBS_CLUSTER_NAME"),
        )


def _seconds(get: Callable[[str], str], name: str, default: float) -> float:
    raw = get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of seconds") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r}: must be greater than 0")
    return value


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
