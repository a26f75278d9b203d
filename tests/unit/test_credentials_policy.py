"""Where the controller may send a credential (issue 11, found as a new user would: any Secret to any host):
the platform's URL allow-list, matched on ``scheme://host[:port]`` only (no user info, path or query that could
say one host and reach another), and the default list of the public clouds' workspace domains.
A Secret's value that no credential can hold (a line break inside it) is refused before any request, and every
credential the controller read is replaced by ``[REDACTED]`` in any log line, traceback included."""

from __future__ import annotations

import base64
import logging
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from controller.api.models import DatabricksWorkspaceSpec
from controller.operator import credentials, logs
from controller.operator.config import DEFAULT_ALLOWED_HOSTS, ConfigError, ControllerConfig
from controller.operator.credentials import host_allowed, normalized_host
from controller.reconcile.reasons import Reason

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "host",
    [
        "https://dbc-1234.cloud.databricks.com",
        "https://dbc-1234.cloud.databricks.com/",
        "HTTPS://DBC-1234.CLOUD.DATABRICKS.COM",
        "https://adb-1.11.azuredatabricks.net",
        "https://1234.5.gcp.databricks.com",
        "https://dbc-1.cloud.databricks.us",
    ],
)
def test_public_cloud_workspaces_are_allowed_by_default(host: str) -> None:
    assert host_allowed(host, DEFAULT_ALLOWED_HOSTS)


@pytest.mark.parametrize(
    "host",
    [
        "http://dbc-1234.cloud.databricks.com",  # not https
        "https://evil.example.com",
        "https://dbc-1234.cloud.databricks.com.evil.example.com",
        "https://cloud.databricks.com@evil.example.com",  # user info: reaches evil.example.com
        "https://evil.example.com/.cloud.databricks.com",  # a path
        "https://evil.example.com?x=.cloud.databricks.com",
        "https://evil.example.com#.cloud.databricks.com",
        "https://x.cloud.databricks.com:99999",  # not a port
        # requests reads a backslash as the start of the path: this reaches evil.com (found as a new user would)
        "https://evil.com\\.cloud.databricks.com",
        "https://evil.com\\@x.cloud.databricks.com",
        "https://evil.com%5C.cloud.databricks.com",
        "https://evil.com .cloud.databricks.com",
        "https://evil.com\t.cloud.databricks.com",
        "file:///etc/passwd",
        "dbc-1234.cloud.databricks.com",  # no scheme
        "",
    ],
)
def test_other_hosts_are_refused(host: str) -> None:
    assert not host_allowed(host, DEFAULT_ALLOWED_HOSTS)


def test_patterns_match_scheme_host_and_port() -> None:
    patterns = ("http://127.0.0.1:*", "https://adb-1.privatelink.example.net")
    assert host_allowed("http://127.0.0.1:8765", patterns)
    assert not host_allowed("http://localhost:8765", patterns)
    assert host_allowed("https://adb-1.privatelink.example.net:443", ("https://adb-1.privatelink.example.net:443",))
    assert normalized_host("https://A.example.com:8443/") == "https://a.example.com:8443"


def test_the_allow_list_setting_is_checked() -> None:
    cfg = ControllerConfig.from_env({"DBJOBS_ALLOWED_HOSTS": "https://*.cloud.databricks.com, http://127.0.0.1:*"})
    assert cfg.allowed_hosts == ("https://*.cloud.databricks.com", "http://127.0.0.1:*")
    assert ControllerConfig.from_env({}).allowed_hosts == DEFAULT_ALLOWED_HOSTS
    for bad in ("*.cloud.databricks.com", "https://x.example.com/path"):
        with pytest.raises(ConfigError, match="DBJOBS_ALLOWED_HOSTS"):
            ControllerConfig.from_env({"DBJOBS_ALLOWED_HOSTS": bad})


def test_admission_refuses_what_the_controller_would_refuse() -> None:
    for host in ("https://evil.com\\.cloud.databricks.com", "https://a@b.cloud.databricks.com", "https://x/y"):
        with pytest.raises(ValueError, match="pattern"):
            DatabricksWorkspaceSpec.model_validate({"host": host, "tokenSecretRef": {"name": "t"}})
    DatabricksWorkspaceSpec.model_validate({"host": "http://127.0.0.1:8765/", "tokenSecretRef": {"name": "t"}})


class _CoreV1:
    def __init__(self, value: str) -> None:
        self.value = value

    def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> Any:
        data = {"token": base64.b64encode(self.value.encode()).decode()}
        return SimpleNamespace(
            metadata=SimpleNamespace(labels={credentials.OPT_IN_LABEL: "true"}), type="Opaque", data=data
        )


@pytest.mark.parametrize("value", ["dapi-abc\nTAIL-123", "dapi abc", "dapi-\x00abc"])
def test_a_value_no_header_can_hold_is_refused_without_quoting_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setattr(credentials.kubernetes.client, "CoreV1Api", lambda: _CoreV1(value))
    with pytest.raises(credentials.CredentialError) as err:
        credentials.SecretCache().token("ns", "tok", "token", "default")
    assert err.value.problem.reason == Reason.SECRET_NOT_ALLOWED
    assert "TAIL" not in err.value.problem.message and "abc" not in err.value.problem.message


def test_a_trailing_line_break_is_not_part_of_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials.kubernetes.client, "CoreV1Api", lambda: _CoreV1("dapi-token-1234\n"))
    assert credentials.SecretCache().token("ns", "tok", "token", "default") == "dapi-token-1234"


def test_a_credential_read_is_redacted_from_every_log_line_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logs.never_log("dapi-SENTINEL-99")
    caplog.handler.addFilter(logs._Redact())
    log = logging.getLogger("test.redact")
    log.warning("sending %s", "Bearer dapi-SENTINEL-99")
    try:
        requests.Request("GET", "http://x", headers={"Authorization": "Bearer dapi-SENTINEL-99\nx"}).prepare()
    except ValueError:
        log.exception("observer cycle failed")
    assert caplog.records, "nothing logged"
    assert "dapi-SENTINEL-99" not in caplog.text and "[REDACTED]" in caplog.text
    assert "InvalidHeader" in caplog.text, "the traceback is still there"
