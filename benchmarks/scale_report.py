"""The one table of the scale benchmark (figures by N, with the issue's targets and whether they are met) and the
machine it ran on. Missing figures (a phase that failed) print as ``—`` and their target as ``not measured``."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Run = Mapping[str, Any]


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def dig(run: Run, *path: str) -> Any:
    value: Any = run
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}f}"
    return str(int(value)) if isinstance(value, float) else str(value)


def _pair(a: Any, b: Any, digits: int = 1) -> str:
    return "—" if a is None and b is None else f"{_num(a, digits)} / {_num(b, digits)}"


@dataclass(frozen=True)
class Target:
    """A target of issue 10 item 7: ``value(run)`` at the sizes ``at`` (None: every size) compared with ``limit``."""

    text: str
    value: Callable[[Run, int], float | None]
    limit: Callable[[int, float], float]
    at: tuple[int, ...] | None = None
    strict: bool = False  # value < limit (else value <= limit)

    def verdict(self, runs: Mapping[int, Run], interval: float) -> str:
        sizes = [n for n in runs if self.at is None or n in self.at]
        if not sizes:
            return "n/a (size not run)"
        parts = []
        for n in sizes:
            value, limit = self.value(runs[n], n), self.limit(n, interval)
            if value is None:
                parts.append(f"N={n}: not measured")
                continue
            ok = value < limit if self.strict else value <= limit
            word = "met" if ok else "MISSED"
            parts.append(f"N={n}: {word} ({_num(value, 2)} vs {_num(limit, 2)})")
        return "; ".join(parts)


def _largest(runs: Mapping[int, Run]) -> tuple[int, ...]:
    return (max(runs),) if runs else ()


def targets(runs: Mapping[int, Run]) -> list[tuple[str, Target]]:
    """(row key, target); RSS is judged at 3000, or at the largest N run when 3000 was scaled down."""
    rss_at = (3000,) if 3000 in runs else _largest(runs)
    return [
        (
            "calls",
            Target(
                "<= 15 @ N=1000", lambda r, n: dig(r, "steady", "databricks_calls_max"), lambda n, i: 15.0, at=(1000,)
            ),
        ),
        ("writes", Target("0 @ N=1000", lambda r, n: dig(r, "steady", "k8s_writes_max"), lambda n, i: 0.0, at=(1000,))),
        (
            "limited",
            Target("<= 1.2 x N/20", lambda r, n: dig(r, "limited", "seconds"), lambda n, i: 1.2 * n / 20),
        ),
        (
            "throttled",
            Target(
                "< 1 % of calls",
                lambda r, n: _pct(dig(r, "limited", "throttled_share")),
                lambda n, i: 1.0,
                strict=True,
            ),
        ),
        (
            "drift",
            Target("p99 < interval + 5 s", lambda r, n: dig(r, "drift", "p99_s"), lambda n, i: i + 5, strict=True),
        ),
        ("git", Target("p99 < 2 s", lambda r, n: dig(r, "git_change", "p99_s"), lambda n, i: 2.0, strict=True)),
        (
            "rss",
            Target(
                f"< 300 MB @ N={rss_at[0] if rss_at else 3000}",
                lambda r, n: dig(r, "memory", "rss_mb"),
                lambda n, i: 300.0,
                at=rss_at,
                strict=True,
            ),
        ),
    ]


def _pct(share: Any) -> float | None:
    return None if share is None else float(share) * 100


def rows(runs: Mapping[int, Run]) -> list[tuple[str, str, Callable[[Run, int], str]]]:
    """(label, target row key or "", cell) for every line of the table."""
    endpoints = sorted({e for r in runs.values() for e in (dig(r, "steady", "databricks_by_endpoint") or {})})
    out: list[tuple[str, str, Callable[[Run, int], str]]] = [
        (
            "Databricks calls / steady cycle (median / max)",
            "calls",
            lambda r, n: _pair(dig(r, "steady", "databricks_calls"), dig(r, "steady", "databricks_calls_max")),
        ),
    ]
    for endpoint in endpoints:
        out.append((f"  {endpoint}", "", _endpoint_cell(endpoint)))
    out += [
        ("  per-resource baseline (jobs/get + runs/list)", "", lambda r, n: _num(dig(r, "baseline", "calls"))),
        ("  baseline cycle, made serially (s)", "", lambda r, n: _num(dig(r, "baseline", "seconds"))),
        ("  observer cycle duration (s)", "", lambda r, n: _num(dig(r, "steady", "observer_seconds"), 2)),
        ("Kubernetes reads / steady cycle (median)", "", lambda r, n: _num(dig(r, "steady", "k8s_reads"))),
        (
            "Kubernetes writes / steady cycle (median / max)",
            "writes",
            lambda r, n: _pair(dig(r, "steady", "k8s_writes"), dig(r, "steady", "k8s_writes_max")),
        ),
        (
            "  Lease reads / writes (leader election, apart)",
            "",
            lambda r, n: _pair(dig(r, "steady", "k8s_lease_reads"), dig(r, "steady", "k8s_lease_writes")),
        ),
        ("apply N → all Synced=True (s)", "", lambda r, n: _num(dig(r, "open", "seconds"))),
        (
            "  kubectl: first / last resource created at (s)",
            "",
            lambda r, n: _pair(dig(r, "open", "first_resource_s"), dig(r, "open", "last_resource_s")),
        ),
        ("same, jobs/create limited to 20/s (s)", "limited", lambda r, n: _num(dig(r, "limited", "seconds"))),
        ("  kubectl: last resource created at (s)", "", lambda r, n: _num(dig(r, "limited", "last_resource_s"))),
        ("  bound N/20 (s) / ratio", "", lambda r, n: _pair(n / 20, _ratio(dig(r, "limited", "seconds"), n / 20), 2)),
        (
            "  429s (count / % of calls)",
            "throttled",
            lambda r, n: _pair(dig(r, "limited", "throttled"), _pct(dig(r, "limited", "throttled_share")), 2),
        ),
        ("  Databricks calls while converging", "", lambda r, n: _num(dig(r, "limited", "calls", "total"))),
        (
            "duplicate jobs created (open / limited)",
            "",
            lambda r, n: _pair(dig(r, "open", "duplicates"), dig(r, "limited", "duplicates")),
        ),
        (
            "drift detected p50 / p99 (s)",
            "drift",
            lambda r, n: _pair(dig(r, "drift", "p50_s"), dig(r, "drift", "p99_s"), 2),
        ),
        (
            "Git change → jobs/reset p50 / p99 (s)",
            "git",
            lambda r, n: _pair(dig(r, "git_change", "p50_s"), dig(r, "git_change", "p99_s"), 2),
        ),
        (
            "controller RSS / peak (MB)",
            "rss",
            lambda r, n: _pair(dig(r, "memory", "rss_mb"), dig(r, "memory", "hwm_mb"), 0),
        ),
        ("controller CPU s / steady cycle", "", lambda r, n: _num(dig(r, "steady", "cpu_s_per_cycle"), 2)),
    ]
    return out


def _endpoint_cell(endpoint: str) -> Callable[[Run, int], str]:
    return lambda r, n: _num(dig(r, "steady", "databricks_by_endpoint", endpoint))


def _ratio(a: Any, b: float) -> float | None:
    return None if a is None or not b else float(a) / b


def table(runs: Mapping[int, Run], interval: float) -> str:
    """The table as text: one row per figure, one column per N, then the target and the verdict."""
    sizes = sorted(runs)
    checks = dict(targets(runs))
    header = ["figure", *[f"N={n}" for n in sizes], "target", "verdict"]
    lines = [header]
    for label, key, cell in rows(runs):
        target = checks.get(key)
        lines.append(
            [
                label,
                *[cell(runs[n], n) for n in sizes],
                target.text if target else "",
                target.verdict(runs, interval) if target else "",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for k, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:-1], widths[1:], strict=True)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
        if k == 0:
            out.append("-" * len(out[0]))
    errors = [f"N={n}: {phase}: {msg}" for n in sizes for phase, msg in (runs[n].get("errors") or {}).items()]
    if errors:
        out += ["", "phases that failed:", *errors]
    return "\n".join(out)


def verdicts(runs: Mapping[int, Run], interval: float) -> dict[str, str]:
    return {f"{key}: {t.text}": t.verdict(runs, interval) for key, t in targets(runs)}
