"""Where the controller may send a credential (issue 11, found as a new user would: any Secret to any host):
the platform's URL allow-list, matched on ``scheme://host[:port]`` only (no user info, path or query that could
say one host and reach another), and the default list of the public clouds' workspace domains."""

from __future__ import annotations

import pytest

from controller.operator.config import DEFAULT_ALLOWED_HOSTS, ConfigError, ControllerConfig
from controller.operator.credentials import host_allowed, normalized_host

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
