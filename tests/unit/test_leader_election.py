"""Leader election's pure parts: the ``DBJOBS_LEADER_ELECTION*`` settings (defaults, the pod's namespace,
the library's timing constraints refused as one-line errors), the holder identity, the renewal watchdog's
rule, the Lease spec a clean stop writes, the guarded lock and request wrapper around the kubernetes
client's ``LeaseLock`` (no write once closed, network errors handed over as ``ApiException``, refusals
logged), the exit on a lost Lease, and the ``/healthz`` answer of a follower and of a leader whose event loop
stalls (``controller.operator.leader``, ``controller.operator.healthz``, ``controller.operator.config``)."""

from __future__ import annotations

import datetime
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import V1LeaseSpec
from kubernetes.client.exceptions import ApiException

from controller.operator import config as config_module
from controller.operator.config import ConfigError, ControllerConfig, LeaderElectionSettings
from controller.operator.healthz import Health, parse_endpoint
from controller.operator.leader import (
    LOST_EXIT_CODE,
    LeaderElector,
    _GuardedLeaseLock,
    _LeaseApi,
    identity,
    released_spec,
    renewal_overdue,
)

pytestmark = pytest.mark.unit
ON = {"DBJOBS_LEADER_ELECTION": "true", "POD_NAMESPACE": "dbjobs-system", "POD_NAME": "dbjobs-7d9f-abcde"}


@pytest.fixture(autouse=True)
def no_service_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The machine running the tests may be a pod: never read its real namespace file."""
    monkeypatch.setattr(config_module, "SERVICE_ACCOUNT_NAMESPACE_FILE", tmp_path / "absent")


def test_off_unless_asked() -> None:
    assert ControllerConfig.from_env({}).leader_election is None
    assert ControllerConfig.from_env({"DBJOBS_LEADER_ELECTION": "false", "POD_NAMESPACE": "x"}).leader_election is None


def test_defaults_take_the_pods_namespace_and_name() -> None:
    assert ControllerConfig.from_env(ON).leader_election == LeaderElectionSettings(
        namespace="dbjobs-system",
        lease_name="dbjobs-controller",
        lease_duration_s=15,
        renew_deadline_s=10,
        retry_period_s=2,
        pod_name="dbjobs-7d9f-abcde",
    )


def test_every_leader_election_setting_is_read() -> None:
    env = ON | {
        "DBJOBS_LEADER_ELECTION": "Yes",
        "DBJOBS_LEADER_ELECTION_NAMESPACE": "leases",
        "DBJOBS_LEADER_ELECTION_LEASE_NAME": "dbjobs-team-a",
        "DBJOBS_LEADER_ELECTION_LEASE_DURATION_SECONDS": "5",
        "DBJOBS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "3",
        "DBJOBS_LEADER_ELECTION_RETRY_PERIOD_SECONDS": "1",
    }
    assert ControllerConfig.from_env(env).leader_election == LeaderElectionSettings(
        "leases", "dbjobs-team-a", 5, 3, 1, "dbjobs-7d9f-abcde"
    )


def test_namespace_falls_back_to_the_service_account_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ns_file = tmp_path / "namespace"
    ns_file.write_text("platform\n")
    monkeypatch.setattr(config_module, "SERVICE_ACCOUNT_NAMESPACE_FILE", ns_file)
    settings = ControllerConfig.from_env({"DBJOBS_LEADER_ELECTION": "1", "HOSTNAME": "host-1"}).leader_election
    assert settings is not None and (settings.namespace, settings.pod_name) == ("platform", "host-1")


def test_outside_a_pod_the_namespace_is_required() -> None:
    with pytest.raises(ConfigError, match="DBJOBS_LEADER_ELECTION_NAMESPACE is required outside a pod"):
        ControllerConfig.from_env({"DBJOBS_LEADER_ELECTION": "true"})


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"DBJOBS_LEADER_ELECTION": "maybe"}, "DBJOBS_LEADER_ELECTION='maybe': expected true or false"),
        ({"DBJOBS_LEADER_ELECTION_LEASE_NAME": "Dbjobs_Lease"}, "expected a DNS subdomain name"),
        ({"DBJOBS_LEADER_ELECTION_LEASE_DURATION_SECONDS": "4.5"}, "expected a whole number of seconds"),
        ({"DBJOBS_LEADER_ELECTION_RETRY_PERIOD_SECONDS": "0"}, "expected a whole number of seconds, at least 1"),
        (
            {"DBJOBS_LEADER_ELECTION_LEASE_DURATION_SECONDS": "10"},
            "LEASE_DURATION_SECONDS=10 must be greater than RENEW_DEADLINE_SECONDS=10",
        ),
        (
            {"DBJOBS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "2", "DBJOBS_LEADER_ELECTION_RETRY_PERIOD_SECONDS": "2"},
            "RENEW_DEADLINE_SECONDS=2 must be greater than 1.2 x RETRY_PERIOD_SECONDS=2",
        ),
    ],
)
def test_a_value_the_library_would_exit_on_is_refused_by_name(values: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        ControllerConfig.from_env(ON | values)


def test_identity_is_the_pod_name_and_a_fresh_suffix() -> None:
    first, second = identity("dbjobs-7d9f-abcde"), identity("dbjobs-7d9f-abcde")
    assert re.fullmatch(r"dbjobs-7d9f-abcde_[0-9a-f]{8}", first)
    assert first != second, "a restarted process must not take the Lease for its own"
    assert identity("").startswith("dbjobs_")


def test_renewal_is_overdue_at_the_renew_deadline() -> None:
    assert not renewal_overdue(100.0, 109.9, 10)
    assert renewal_overdue(100.0, 110.0, 10)


def test_a_clean_stop_clears_the_holder_of_its_own_lease_only() -> None:
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    spec = V1LeaseSpec(holder_identity="a_1", lease_duration_seconds=15, lease_transitions=3)
    released = released_spec(spec, "a_1", now)
    assert released is not None
    assert (released.holder_identity, released.lease_duration_seconds) == (None, 1)
    assert (released.acquire_time, released.renew_time, released.lease_transitions) == (now, now, 3)
    assert released_spec(V1LeaseSpec(holder_identity="b_2", lease_duration_seconds=15), "a_1", now) is None
    assert released_spec(None, "a_1", now) is None


class FakeApi:
    """Stands in for CoordinationV1Api: records calls, raises ``error`` when set."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[str] = []

    def read_namespaced_lease(self, name: str, namespace: str, **kwargs: Any) -> Any:
        self.calls.append(f"get timeout={kwargs['_request_timeout']}")
        if self.error:
            raise self.error
        return None

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any, **kwargs: Any) -> Any:
        self.calls.append("update")
        return body


def test_a_network_error_reaches_the_library_as_the_api_exception_it_retries_on() -> None:
    api = _LeaseApi(FakeApi(ConnectionResetError("reset by peer")), "ns/lease", timeout_s=5.0)
    before = api.last_attempt
    with pytest.raises(ApiException) as err:
        api.read_namespaced_lease("lease", "ns")
    assert err.value.status == 0 and "ConnectionResetError: reset by peer" in str(err.value.reason)
    assert api.last_attempt >= before


def test_a_refusal_is_logged_once_with_the_verb_and_the_apiservers_message(caplog: pytest.LogCaptureFixture) -> None:
    body = '{"message": "leases.coordination.k8s.io \\"lease\\" is forbidden: cannot get resource \\"leases\\""}'
    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = body
    fake = FakeApi(forbidden)
    api = _LeaseApi(fake, "ns/lease", timeout_s=5.0)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):  # the library retries every retry period: one warning, not one per try
            with pytest.raises(ApiException):
                api.read_namespaced_lease("lease", "ns")
    assert fake.calls == ["get timeout=5.0"] * 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        'leader election: the apiserver refused to get Lease ns/lease: leases.coordination.k8s.io "lease" is '
        'forbidden: cannot get resource "leases"'
    ]


def test_a_closed_lock_writes_nothing() -> None:
    lock = _GuardedLeaseLock("lease", "ns", "a_1", timeout_s=5.0)
    fake = FakeApi()
    lock.api._api = fake
    lock.lease_reference = object()
    lock.close()
    assert lock.update("lease", "ns", object()) is False
    assert lock.create("lease", "ns", object()) is False
    assert fake.calls == []


def settings() -> LeaderElectionSettings:
    return LeaderElectionSettings(namespace="ns", pod_name="pod")


def test_losing_the_lease_exits_non_zero_at_once() -> None:
    exits: list[int] = []
    elector = LeaderElector(settings(), exit_process=exits.append)
    elector._lost("renewing failed")
    assert exits == [LOST_EXIT_CODE] == [1]


def test_a_clean_stop_is_not_a_loss() -> None:
    exits: list[int] = []
    elector = LeaderElector(settings(), exit_process=exits.append)
    assert elector.release() is False, "a follower has nothing to release"
    elector._lost("renewals fail because the lock is closed")
    assert exits == []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_follower_is_as_healthy_as_its_election() -> None:
    health = Health()
    working = [True]
    health.follow(lambda: working[0])
    assert health.status() == (True, {"role": "follower"})
    working[0] = False
    assert health.status() == (False, {"role": "follower"})


def test_a_leader_whose_loop_stalls_is_unhealthy_until_it_beats_again() -> None:
    clock = Clock()
    health = Health(stall_s=20.0, clock=clock)
    health.lead()
    clock.now += 19.0
    assert health.status() == (True, {"role": "leader", "loopLagSeconds": 19.0})
    clock.now += 1.0
    assert health.status()[0] is False
    health.beat()
    assert health.status() == (True, {"role": "leader", "loopLagSeconds": 0.0})


def test_health_endpoint_url() -> None:
    assert parse_endpoint("http://0.0.0.0:8080/healthz") == ("0.0.0.0", 8080, "/healthz")
    assert parse_endpoint("http://127.0.0.1:9000") == ("127.0.0.1", 9000, "/healthz")
    for bad in ("0.0.0.0:8080", "https://0.0.0.0:8080/healthz", "http://0.0.0.0/healthz"):
        with pytest.raises(ValueError, match="expected http://HOST:PORT/PATH"):
            parse_endpoint(bad)
