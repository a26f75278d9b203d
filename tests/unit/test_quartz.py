"""Quartz cron evaluation (controller/reconcile/quartz.py): fields, Quartz day numbering, time zones."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.reconcile import quartz

pytestmark = pytest.mark.unit


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize(
    ("expr", "tz", "after", "expected"),
    [
        ("0 0 2 * * ?", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-01T02:00:00+00:00", "2026-01-02T02:00:00+00:00"]),
        ("0 0 2 * * ?", "Europe/Amsterdam", "2026-01-01T00:00:00+00:00",
         ["2026-01-01T01:00:00+00:00", "2026-01-02T01:00:00+00:00"]),
        ("0 30 9 ? * MON-FRI", "UTC", "2026-01-02T10:00:00+00:00",
         ["2026-01-05T09:30:00+00:00", "2026-01-06T09:30:00+00:00"]),  # Friday 2nd -> Monday 5th
        ("0 0 12 ? * 1", "UTC", "2026-01-01T00:00:00+00:00",
         ["2026-01-04T12:00:00+00:00", "2026-01-11T12:00:00+00:00"]),  # 1 = Sunday in Quartz
        ("0 0/15 * * * ?", "UTC", "2026-01-01T00:00:00+00:00",
         ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"]),
        ("0 0 0 L * ?", "UTC", "2026-01-01T00:00:00+00:00",
         ["2026-01-31T00:00:00+00:00", "2026-02-28T00:00:00+00:00"]),
        ("0 0 0 1 JAN ? 2027", "UTC", "2026-01-01T00:00:00+00:00", ["2027-01-01T00:00:00+00:00"]),
    ],
)  # fmt: skip
def test_fires_between(expr: str, tz: str, after: str, expected: list[str]) -> None:
    got = quartz.fires_between(expr, tz, ms(after), ms(after) + 400 * 86_400_000, limit=2)
    assert got == [ms(e) for e in expected]


def test_previous_fire_is_at_or_before() -> None:
    at = ms("2026-01-01T02:00:00+00:00")
    assert quartz.previous_fire("0 0 2 * * ?", "UTC", at) == at
    assert quartz.previous_fire("0 0 2 * * ?", "UTC", at - 1) == at - 86_400_000


def test_dst_gap_is_skipped() -> None:
    # 2026-03-29 02:30 does not exist in Amsterdam (clocks jump from 02:00 to 03:00).
    fires = quartz.fires_between("0 30 2 * * ?", "Europe/Amsterdam", ms("2026-03-28T00:00:00+00:00"),
                                 ms("2026-03-31T00:00:00+00:00"))  # fmt: skip
    assert len(fires) == 2


@pytest.mark.parametrize("expr", ["0 0 12 15W * ?", "0 0 12 ? * 6#3", "0 0 12 ? * 6L", "0 0 12 L-3 * ?"])
def test_unsupported_features_say_so(expr: str) -> None:
    with pytest.raises(quartz.UnsupportedCron):
        quartz.parse(expr)


@pytest.mark.parametrize("expr", ["0 0 12 * *", "0 61 * * * ?", "x 0 0 * * ?", "0 0 0 1 13 ?"])
def test_invalid_expressions(expr: str) -> None:
    with pytest.raises(ValueError):
        quartz.parse(expr)
