"""The controller's runtime settings from the environment (``controller.operator.config``) and the owner
key that ties a Databricks job to one DatabricksJob by cluster, namespace and name."""

from __future__ import annotations

import re

import pytest

from controller.operator.config import ConfigError, ControllerConfig
from controller.reconcile.compare import OWNER_KEY_MAX, owner_key

pytestmark = pytest.mark.unit


def test_defaults_when_nothing_is_set() -> None:
    cfg = ControllerConfig.from_env({})
    assert cfg == ControllerConfig()
    assert (cfg.poll_interval_s, cfg.watch_namespaces, cfg.metrics_port, cfg.health_port) == (60.0, (), None, None)
    assert (cfg.log_level, cfg.log_format, cfg.metrics_bind_address) == ("INFO", "text", "0.0.0.0")


def test_every_setting_is_read() -> None:
    cfg = ControllerConfig.from_env(
        {
            "DBJOBS_POLL_INTERVAL_SECONDS": "20",
            "DBJOBS_WATCH_NAMESPACES": " team-a, team-b ,,",
            "DBJOBS_LOG_LEVEL": "debug",
            "DBJOBS_LOG_FORMAT": "JSON",
            "DBJOBS_METRICS_PORT": "9090",
            "DBJOBS_METRICS_BIND_ADDRESS": "127.0.0.1",
            "DBJOBS_HEALTH_PORT": "8080",
            "DBJOBS_SHUTDOWN_SECONDS": "5",
            "DBJOBS_WATCH_TIMEOUT_SECONDS": "120",
            "DBJOBS_CLUSTER_NAME": "prod-eu",
        }
    )
    assert cfg == ControllerConfig(
        poll_interval_s=20.0,
        watch_namespaces=("team-a", "team-b"),
        log_level="DEBUG",
        log_format="json",
        metrics_port=9090,
        metrics_bind_address="127.0.0.1",
        health_port=8080,
        shutdown_s=5.0,
        watch_timeout_s=120.0,
        cluster_name="prod-eu",
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DBJOBS_LOG_LEVEL", "LOUD", "expected one of DEBUG, INFO, WARNING, ERROR"),
        ("DBJOBS_LOG_FORMAT", "xml", "expected one of text, json"),
        ("DBJOBS_METRICS_PORT", "70000", "expected a TCP port"),
        ("DBJOBS_HEALTH_PORT", "http", "expected a TCP port"),
        ("DBJOBS_POLL_INTERVAL_SECONDS", "soon", "expected a number of seconds"),
        ("DBJOBS_SHUTDOWN_SECONDS", "0", "at least 1"),
        ("DBJOBS_WATCH_TIMEOUT_SECONDS", "0", "at least 1"),
        ("DBJOBS_POLL_INTERVAL_SECONDS", "nan", "a finite number of seconds"),
        ("DBJOBS_POLL_INTERVAL_SECONDS", "inf", "a finite number of seconds"),
        ("DBJOBS_POLL_INTERVAL_SECONDS", "0.001", "at least 1"),
        ("DBJOBS_WATCH_NAMESPACES", "team-a,Bad_NS", "not a namespace name"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(name)) as err:
        ControllerConfig.from_env({name: value})
    assert says in str(err.value)


def test_owner_key_is_deterministic_and_tag_safe() -> None:
    key = owner_key("", "team-a", "nightly.notebook")
    assert key == owner_key("", "team-a", "nightly.notebook")
    assert key.startswith("team-a_nightly-notebook-")
    assert re.fullmatch(r"[a-z0-9_-]{1,63}", key)


@pytest.mark.parametrize(
    "other",
    [("prod", "team-a", "nightly"), ("", "team-b", "nightly"), ("", "team-a", "nightly2"), ("", "team-a_nightly", "")],
)
def test_owner_key_differs_per_cluster_namespace_and_name(other: tuple[str, str, str]) -> None:
    assert owner_key("", "team-a", "nightly") != owner_key(*other)


def test_owner_key_of_the_longest_names_fits_a_gcp_label() -> None:
    key = owner_key("c" * 100, "n" * 63, "x" * 253)
    assert len(key) == OWNER_KEY_MAX
    assert owner_key("c", "n" * 63, "x" * 253) != owner_key("c", "n" * 63, "x" * 252 + "y")
