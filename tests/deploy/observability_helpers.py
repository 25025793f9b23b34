"""Readers shared by the observability tests: the artefacts' paths, the metric names a
PromQL expression selects, the series the worker exports, the alert rules, the
dashboard's queries with Grafana's variables filled in as Grafana does, and ``run``.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase

from streams.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
SCRAPE_CONFIG = PROMETHEUS / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "segment-engine.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "segment-engine.yml"


# --- metric names in PromQL --------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.I)
_TOKEN = re.compile(
    r"(?P<number>(?:0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)(?:(?:ms|[smhdwy])\d*)*)"
    r"|(?P<name>[a-z_:][a-z0-9_:]*)(?P<call>\s*\()?"
    r"|.",
    re.I | re.S,
)
_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords,
    label names (inside braces or grouping clauses), durations or numbers."""
    text = _STRING.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)  # ranges, subqueries, Grafana's $__rate_interval
    text = _GROUPING.sub(" ", text)
    names = set()
    for token in _TOKEN.finditer(text):
        name = token.group("name")
        if name and not token.group("call") and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


@cache
def exported() -> dict[str, frozenset[str]]:
    """Every series name the worker exports, with its label names; plus ``up``."""
    metrics = Metrics()
    labels = {
        m._name: frozenset(m._labelnames)
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
    }
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    names: dict[str, frozenset[str]] = {"up": frozenset()}
    for family in metrics.registry.collect():
        for suffix in suffixes.get(family.type, [""]):
            extra = {"le"} if suffix == "_bucket" else set()
            names[family.name + suffix] = labels[family.name] | extra
    return names


def target_labels() -> set[str]:
    """Labels Prometheus attaches to every scraped series under prometheus.yml."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    found = {"job", "instance"}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            found |= set(static.get("labels", {}))
        for relabel in job.get("relabel_configs", []):
            label = relabel.get("target_label", "__")
            if not label.startswith("__"):
                found.add(label)
    return found


_SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')


def unknown_names_and_labels(expr: str, defined: set[str]) -> list[str]:
    """Metric names that are neither exported nor ``defined`` (recording rules), and
    label matchers naming a label the selected metric cannot have."""
    problems = sorted(metric_names(expr) - exported().keys() - defined)
    for name, matchers in _SELECTOR.findall(expr):
        if name in exported():
            allowed = exported()[name] | target_labels()
            labels = _MATCHER.findall(matchers)
            problems += [f"{name}{{{label}}}" for label in labels if label not in allowed]
    return problems


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=120)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    found = [rule for rule in rules() if "alert" in rule]
    by_name = {rule["alert"]: rule for rule in found}
    assert len(by_name) == len(found), "alert names must be unique"
    return by_name


# --- the dashboard, and what Grafana sends for it ------------------------------------


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


@dataclass(frozen=True)
class DashboardQuery:
    """One query Grafana runs for the dashboard: ``expr`` as written (variables in it),
    ``instant`` for one value at the end of the range rather than a series over it, and
    ``step`` when the query sets its own (annotations)."""

    where: str
    expr: str
    instant: bool = False
    step: str | None = None


def dashboard_queries() -> list[DashboardQuery]:
    """Every query: panel targets, annotations, variables."""
    found = [
        DashboardQuery(
            f"panel {panel['id']} {target['refId']} ({panel['title']})",
            target["expr"],
            instant=bool(target.get("instant")) and not target.get("range"),
        )
        for panel in panels()
        for target in panel.get("targets", [])
    ]
    for index, annotation in enumerate(dashboard()["annotations"]["list"]):
        if "expr" in annotation:
            where = f"annotation {index} ({annotation['name']})"
            found.append(DashboardQuery(where, annotation["expr"], step=annotation.get("step")))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["query"])
            assert match, f"variable {variable['name']}: expected label_values(selector, label)"
            found.append(DashboardQuery(f"variable {variable['name']}", match[1], instant=True))
    return found


def dashboard_expressions() -> list[tuple[str, str]]:
    """``(where, PromQL)`` for every query: panel targets, annotations, variables."""
    return [(query.where, query.expr) for query in dashboard_queries()]


def seconds(duration: str) -> int:
    """A Grafana or Prometheus duration of one unit (``15s``, ``6h``) in seconds."""
    match = re.fullmatch(r"(\d+)([smhd])", duration)
    assert match, f"expected a duration such as 15s or 6h, not {duration!r}"
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


# Grafana's rangeutil.roundInterval, from seconds to hours: (below, rounds to), seconds.
_ROUNDED = [
    (1.5, 1), (3.5, 2), (7.5, 5), (12.5, 10), (17.5, 15), (25, 20), (45, 30), (90, 60),
    (210, 120), (450, 300), (750, 600), (1050, 900), (1500, 1200), (2700, 1800), (5400, 3600),
]  # fmt: skip


@dataclass(frozen=True)
class GrafanaView:
    """The values of Grafana's built-in variables for a panel ``points`` pixels wide
    showing the dashboard's default time range, on the provisioned data source."""

    range_seconds: int
    scrape_seconds: int  # the data source's timeInterval: Grafana's floor for $__interval
    points: int = 1000

    @property
    def interval_seconds(self) -> int:
        raw = self.range_seconds / self.points
        rounded = next((to for below, to in _ROUNDED if raw < below), 3600)
        return max(self.scrape_seconds, rounded)

    @property
    def rate_interval_seconds(self) -> int:
        """Grafana's rule: at least four scrapes, and one scrape more than $__interval."""
        return max(self.interval_seconds + self.scrape_seconds, 4 * self.scrape_seconds)

    def builtins(self) -> dict[str, str]:
        return {
            "__interval": f"{self.interval_seconds}s",
            "__interval_ms": str(self.interval_seconds * 1000),
            "__rate_interval": f"{self.rate_interval_seconds}s",
            "__range": f"{self.range_seconds}s",
            "__range_s": str(self.range_seconds),
            "__range_ms": str(self.range_seconds * 1000),
        }


def grafana_view() -> GrafanaView:
    time_range = dashboard()["time"]
    assert time_range["to"] == "now", time_range
    shown = time_range["from"].removeprefix("now-")
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    return GrafanaView(seconds(shown), seconds(source["jsonData"]["timeInterval"]))


_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def grafana_to_promql(expr: str, view: GrafanaView | None = None) -> str:
    """``expr`` with Grafana's variables replaced as Grafana does: built-ins from
    ``view`` (default: the dashboard's own), a dashboard variable by its All value."""
    values = (view or grafana_view()).builtins()
    for variable in dashboard()["templating"]["list"]:
        values[variable["name"]] = variable.get("allValue") or ".*"

    def value(match: re.Match[str]) -> str:
        return values.get(match[1] or match[2], match[0])  # Grafana leaves unknown ones

    promql = _VARIABLE.sub(value, expr)
    # Outside strings (a "$1" of label_replace), a "$" left is a variable nobody defines.
    assert "$" not in _STRING.sub("", promql), f"an unknown variable in {expr!r}"
    return promql
