"""Readers shared by the observability tests: the artefacts' paths, the metric names a
PromQL expression selects, the series the worker exports, the alert rules, and ``run``.
"""

from __future__ import annotations

import re
import subprocess
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
