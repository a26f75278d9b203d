"""The Grafana dashboard of the chart (charts/dbjobs/files/dashboards/dbjobs.json).

Every PromQL expression of every panel (and of the namespace variable) parses with promql-parser, and
names only metrics that controller/operator/metrics.py registers, read from the Prometheus registry
(not from its source); every metric the controller exports has a panel. The scrape of a running
controller's /metrics is the e2e half.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from controller.operator import metrics

pytestmark = pytest.mark.unit

DASHBOARD = Path(__file__).resolve().parents[2] / "charts" / "dbjobs" / "files" / "dashboards" / "dbjobs.json"

# The series names Prometheus stores for a metric family of each type (prometheus-client's exposition).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def exported_families() -> dict[str, str]:
    """Family name → type of every metric the module defines, as registered in the default registry."""
    registered = {family.name: family.type for family in REGISTRY.collect()}
    ours: dict[str, str] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                assert registered.get(family.name) == family.type, f"{family.name} is not in the registry"
                ours[family.name] = family.type
    assert ours, "controller.operator.metrics defines no metric"
    return ours


def series_names() -> dict[str, str]:
    """Every series name a query may use → the family it belongs to."""
    return {f"{name}{suffix}": name for name, kind in exported_families().items() for suffix in SUFFIXES[kind]}


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels") or []  # collapsed rows hold their panels


def expressions(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and of every query variable (inside label_values(...))."""
    found = [(f"panel {p['title']!r} {t['refId']}", t["expr"]) for p in panels(board) for t in p.get("targets") or []]
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query.strip())
        assert match, f"variable {var['name']}: unexpected query {query!r}"
        found.append((f"variable {var['name']}", match.group(1)))
    return found


def expand_grafana_variables(expr: str) -> str:
    """Grafana's interval variables become a duration; other variables a plain value."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    return re.sub(r"\$\{?\w+\}?", "x", expr)


def metric_names(expr: str) -> set[str]:
    """The metric names of every vector selector in ``expr`` (parsed, never guessed from the text)."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name
            if name is None:  # {__name__="…"} style
                name = next((m.value for m in node.matchers.matchers if m.name == "__name__"), None)
            assert name, f"a selector without a metric name in {expr!r}"
            names.add(name)
        return True

    promql_parser.walk(promql_parser.parse(expand_grafana_variables(expr)), visit)
    return names


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] == "dbjobs-controller" and board["title"] == "dbjobs"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


@pytest.mark.parametrize("where,expr", expressions(dashboard()), ids=[where for where, _ in expressions(dashboard())])
def test_every_query_parses_and_names_only_exported_metrics(where: str, expr: str) -> None:
    try:
        names = metric_names(expr)
    except ValueError as err:
        pytest.fail(f"{where}: PromQL does not parse: {err}\n{expr}")
    assert names, f"{where}: names no metric: {expr}"
    unknown = names - set(series_names())
    assert not unknown, f"{where}: {sorted(unknown)} not exported by controller/operator/metrics.py: {expr}"


def test_every_exported_metric_has_a_panel() -> None:
    shown = {series_names()[n] for _, expr in expressions(dashboard()) for n in metric_names(expr)}
    missing = set(exported_families()) - shown
    assert not missing, f"metrics without a panel in {DASHBOARD.name}: {sorted(missing)}"


def test_the_checker_catches_a_wrong_name_and_bad_syntax() -> None:
    """The test above is not vacuous: a typo and a syntax error are caught."""
    assert metric_names("sum(rate(dbjobs_reconcile_totl[$__rate_interval]))") - set(series_names()) == {
        "dbjobs_reconcile_totl"
    }
    with pytest.raises(ValueError):
        metric_names("sum(rate(dbjobs_reconcile_total[5m])")
