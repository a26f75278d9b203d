"""Quartz cron expressions, as Databricks job schedules spell them (spec §4.4, ``quartz_cron_expression``).

Fields: seconds, minutes, hours, day-of-month, month, day-of-week, optional year. Supported in
each: ``*``, ``?`` (day fields), single values, ``a-b`` ranges, ``/step`` (``*/5``, ``0/5``,
``10-40/10``), comma lists, month names ``JAN``-``DEC`` and day names ``SUN``-``SAT``. Quartz
numbers days of the week 1-7 with 1 = Sunday (unlike Unix cron's 0-6). ``L`` alone in
day-of-month (last day of the month) is supported; ``W``, ``#``, ``nL``, ``L-n`` and ``L`` in
day-of-week raise :class:`UnsupportedCron` so a caller can say so instead of guessing.

Fire times are computed in the schedule's IANA ``timezone_id`` (zoneinfo) and returned as epoch
milliseconds. Local times that do not exist (a DST gap) are skipped; of repeated local times the
first is used. Pure: no I/O and no clock; "now" is always an argument. Used by both the
controller (missed schedules) and the emulator (firing scheduled runs), which is why it depends
on nothing but the standard library.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_MONTHS = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_MS = 1000


class UnsupportedCron(ValueError):
    """A valid Quartz feature this evaluator does not implement (``W``, ``#``, ``L`` variants)."""


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the allowed values of each field (``None`` for day fields = any)."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int] | None  # day of month; 32 stands for "L" (last day)
    months: frozenset[int]
    weekdays: frozenset[int] | None  # Quartz numbering, 1 = Sunday
    years: frozenset[int] | None

    def day_matches(self, day: dt.date) -> bool:
        if self.years is not None and day.year not in self.years:
            return False
        if day.month not in self.months:
            return False
        if self.days is not None:
            last = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
            if day.day not in self.days and not (32 in self.days and day == last):
                return False
        # isoweekday: Monday 1 .. Sunday 7 -> Quartz: Sunday 1 .. Saturday 7
        return self.weekdays is None or (day.isoweekday() % 7) + 1 in self.weekdays


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in text.upper().split(","):
        if not part:
            raise ValueError(f"empty list item in {text!r}")
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step must be positive in {part!r}")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(base, names)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high):
            raise ValueError(f"{part!r} is outside {low}-{high}")
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # Quartz allows wrap-around ranges such as FRI-MON
            span = list(range(start, high + 1)) + list(range(low, end + 1))
            values.update(span[::step])
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def parse(expression: str) -> Cron:
    """Parse a Quartz expression. Raises ``ValueError`` when invalid, ``UnsupportedCron`` for
    features outside the documented subset."""
    parts = expression.split()
    if len(parts) not in (6, 7):
        raise ValueError(f"a Quartz expression has 6 or 7 fields, got {len(parts)}: {expression!r}")
    sec, minute, hour, dom, month, dow = parts[:6]
    for special in ("W", "#"):
        if special in dom.upper() or special in dow.upper():
            raise UnsupportedCron(f"{special!r} in {expression!r} is not supported")
    if "L" in dow.upper():  # no day name contains an L, so any L is the "last weekday" form
        raise UnsupportedCron(f"'L' in the day-of-week field of {expression!r} is not supported")
    days: frozenset[int] | None
    if dom in ("?", "*"):
        days = None
    elif dom.upper() == "L":
        days = frozenset({32})
    elif "L" in dom.upper():
        raise UnsupportedCron(f"{dom!r} in {expression!r} is not supported")
    else:
        days = frozenset(_field(dom, 1, 31))
    years = None if len(parts) == 6 or parts[6] in ("*", "?") else frozenset(_field(parts[6], 1970, 2199))
    return Cron(
        seconds=tuple(sorted(_field(sec, 0, 59))),
        minutes=tuple(sorted(_field(minute, 0, 59))),
        hours=tuple(sorted(_field(hour, 0, 23))),
        days=days,
        months=frozenset(_field(month, 1, 12, _MONTHS)),
        weekdays=None if dow in ("?", "*") else frozenset(_field(dow, 1, 7, _DAYS)),
        years=years,
    )


def _local_fires(cron: Cron, day: dt.date, zone: ZoneInfo, reverse: bool) -> Iterator[int]:
    order = (lambda xs: tuple(reversed(xs))) if reverse else (lambda xs: xs)
    for h, m, s in itertools.product(order(cron.hours), order(cron.minutes), order(cron.seconds)):
        local = dt.datetime(day.year, day.month, day.day, h, m, s, tzinfo=zone)
        utc = local.astimezone(dt.UTC)
        if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
            continue  # inside a DST gap: this wall-clock time does not exist
        yield int(utc.timestamp()) * _MS


def fires_between(expression: str, timezone_id: str, after_ms: int, until_ms: int, limit: int = 1000) -> list[int]:
    """Fire times ``t`` with ``after_ms < t <= until_ms`` (epoch ms), oldest first, at most ``limit``."""
    cron, zone = parse(expression), ZoneInfo(timezone_id)
    out: list[int] = []
    day = dt.datetime.fromtimestamp(after_ms / _MS, zone).date()
    last_day = dt.datetime.fromtimestamp(until_ms / _MS, zone).date()
    while day <= last_day and len(out) < limit:
        if cron.day_matches(day):
            for t in _local_fires(cron, day, zone, reverse=False):
                if t > until_ms:
                    return out
                if t > after_ms:
                    out.append(t)
                    if len(out) >= limit:
                        return out
        day += dt.timedelta(days=1)
    return out


def previous_fire(expression: str, timezone_id: str, at_ms: int, lookback_days: int = 400) -> int | None:
    """The latest fire time ``<= at_ms`` (epoch ms) within ``lookback_days``, or None."""
    cron, zone = parse(expression), ZoneInfo(timezone_id)
    day = dt.datetime.fromtimestamp(at_ms / _MS, zone).date()
    for _ in range(lookback_days):
        if cron.day_matches(day):
            for t in _local_fires(cron, day, zone, reverse=True):
                if t <= at_ms:
                    return t
        day -= dt.timedelta(days=1)
    return None
