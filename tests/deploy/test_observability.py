"""The observability artefacts agree with the code: alert rules, their unit tests, the
Grafana dashboard and its provisioning.

Debian's ``promtool`` checks the rules, runs their unit tests and parses every dashboard
expression; everything else reads the files and ``streams.metrics.Metrics``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from schemas.config import DriftConfig
from streams.metrics import Metrics
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
SCRAPE_CONFIG = PROMETHEUS / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "segment-engine.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "segment-engine.yml"
SEVERITIES = {"critical", "warning", "info"}
# Panels that query nothing by design.
TARGETLESS = {"row", "alertlist"}


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


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (job) (rate(a_total{outcome="x", job=~"$job"}[$__rate_interval]))', {"a_total"}),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
        ("a > 2 * (a offset 1d) and on (job) b unless ignoring(x) c", {"a", "b", "c"}),
        ("rec:a:rate5m / on (job, kind) group_left sum by (job, kind) (b)", {"rec:a:rate5m", "b"}),
        ('up{job=~"segment-engine.*"} == 0', {"up"}),
        ("time() - max(w) > bool 1.5e3", {"w"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)") or vector(0)', {"m"}),
        ("sum(m) without (instance) > Inf", {"m"}),
        ("topk(10, sum(increase(c[1h]))) or min_over_time(r:x[6h:5m] offset 1h30m)", {"c", "r:x"}),
        ('count_values("version", g) * -0x1f', {"g"}),
    ],
)
def test_metric_names_extracts_only_metrics(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


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


def test_exported_names_cover_counters_and_histograms() -> None:
    names = exported()
    assert "segment_engine_events_total" in names
    assert "segment_engine_events" not in names
    assert {"segment_engine_batch_duration_seconds_bucket", "up"} <= names.keys()
    assert names["segment_engine_consumer_lag_messages"] == {"topic", "partition"}
    assert "le" in names["segment_engine_emit_latency_seconds_bucket"]


def test_only_series_of_live_segments_carry_a_segment_label() -> None:
    """Segment ids are never reused: a counter labelled by from/to segment would gain
    series for as long as the worker runs. Changes are counted by kind and reason; the
    per-segment series are the ones the pipeline removes when a segment retires."""
    names = exported()
    assert names["segment_engine_segment_changes_total"] == {"kind", "reason"}
    per_segment = {name for name, labels in names.items() if labels & {"segment", "from_segment"}}
    assert per_segment == {
        "segment_engine_segment_size_customers",
        "segment_engine_segment_entries_total",
        "segment_engine_segment_exits_total",
        "segment_engine_segment_conversion_ratio",
        "segment_engine_segment_revenue_per_customer",
        "segment_engine_segment_lapsed_ratio",
    }


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


def test_unknown_names_and_labels_are_reported() -> None:
    assert unknown_names_and_labels('rate(segment_engine_events_total{outcme="x"}[5m])', set()) == [
        "segment_engine_events_total{outcme}"
    ]
    assert unknown_names_and_labels("segment_engine_event_total", set()) == [
        "segment_engine_event_total"
    ]
    assert unknown_names_and_labels('segment_engine_events_total{reason="x"}', set()) == [
        "segment_engine_events_total{reason}"
    ]
    assert unknown_names_and_labels("x:y", {"x:y"}) == []


def test_unknown_names_and_labels_accepts_real_ones() -> None:
    expr = 'segment_engine_events_total{outcome="x", job="y", pod="z"} + rec:a'
    assert unknown_names_and_labels(expr, {"rec:a"}) == []


# --- promtool ---------------------------------------------------------------------


@pytest.fixture
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        need("promtool (apt-get install prometheus)")
    assert binary is not None
    return binary


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=120)


def test_promtool_checks_the_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_scrape_config_loads_the_rules(promtool: str, tmp_path: Path) -> None:
    """prometheus.yml plus ``rule_files: [alerts.yml]`` is a valid configuration."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config.setdefault("rule_files", [str(ALERTS)])
    config["rule_files"] = [str(PROMETHEUS / p) for p in config["rule_files"]]
    for job in config["scrape_configs"]:  # Debian's promtool lacks Kubernetes discovery
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": []}]
    stand_in = tmp_path / "prometheus.yml"
    stand_in.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run(promtool, "check", "config", str(stand_in))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [str(ALERTS)] == config["rule_files"]


def test_dashboard_expressions_parse(promtool: str, tmp_path: Path) -> None:
    """Every dashboard query, Grafana's variables filled in, as a recording rule."""
    rules = [
        {"record": f"dashboard:{where.replace(' ', '_')}", "expr": grafana_to_promql(expr)}
        for where, expr in dashboard_expressions()
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


# --- the rules ----------------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    found = [rule for rule in rules() if "alert" in rule]
    by_name = {rule["alert"]: rule for rule in found}
    assert len(by_name) == len(found), "alert names must be unique"
    return by_name


def test_rules_use_only_exported_metrics_and_their_labels() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        name = rule.get("alert") or rule["record"]
        assert unknown_names_and_labels(rule["expr"], recorded - {name}) == [], name


def test_every_alert_has_severity_summary_description_and_for() -> None:
    for name, rule in alerts().items():
        assert name.startswith("SegmentEngine"), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["summary"].strip(), name
        assert rule["annotations"]["description"].strip(), name
        assert re.fullmatch(r"(\d+[smh])+", rule["for"]), name


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = [
        case
        for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert firing == alerts().keys(), "alerts never shown firing"
    assert quiet == alerts().keys(), "alerts never shown staying quiet"


def test_worker_down_covers_every_scrape_job() -> None:
    (pattern,) = re.findall(r'up\{job=~"([^"]+)"\}', alerts()["SegmentEngineWorkerDown"]["expr"])
    jobs = [job["job_name"] for job in yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"]]
    assert jobs
    for job in jobs:
        assert re.fullmatch(pattern, job), job


def test_psi_alerts_use_the_configured_thresholds() -> None:
    config = DriftConfig()
    for name, threshold in [
        ("SegmentEnginePsiDriftHigh", config.psi_alert),
        ("SegmentEnginePsiDriftElevated", config.psi_warning),
    ]:
        expr = alerts()[name]["expr"]
        assert 'detector="psi"' in expr, name
        assert float(expr.rsplit(">", 1)[1]) == threshold, name


# --- the dashboard and its provisioning ---------------------------------------------


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


def dashboard_expressions() -> list[tuple[str, str]]:
    """``(where, PromQL)`` for every query: panel targets, annotations, variables."""
    found = [
        (f"panel {panel['id']} {target['refId']}", target["expr"])
        for panel in panels()
        for target in panel.get("targets", [])
    ]
    for index, annotation in enumerate(dashboard()["annotations"]["list"]):
        if "expr" in annotation:
            found.append((f"annotation {index}", annotation["expr"]))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["query"])
            assert match, f"variable {variable['name']}: expected label_values(selector, label)"
            found.append((f"variable {variable['name']}", match[1]))
    return found


_GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}


def grafana_to_promql(expr: str) -> str:
    for variable, value in _GRAFANA_INTERVALS.items():
        expr = expr.replace(variable, value)
    for variable in dashboard()["templating"]["list"]:
        expr = expr.replace(f"${variable['name']}", variable.get("allValue") or ".*")
    assert "$" not in _STRING.sub("", expr), f"an unknown variable in {expr!r}"
    return expr


def test_dashboard_expressions_use_only_exported_metrics_and_their_labels() -> None:
    expressions = dashboard_expressions()
    assert len(expressions) > 20
    for where, expr in expressions:
        assert unknown_names_and_labels(expr, set()) == [], where


def test_dashboard_is_provisionable() -> None:
    board = dashboard()
    assert board["uid"] == "segment-engine"
    assert board["id"] is None, "a provisioned dashboard gets its id from Grafana"
    assert 36 <= board["schemaVersion"] <= 41


def test_every_panel_has_a_title_a_unique_id_and_a_query() -> None:
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert all(isinstance(i, int) for i in ids)
    for panel in panels():
        assert panel.get("title"), panel["id"]
        assert "repeat" not in panel, "repeated panels get ids at run time"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] in TARGETLESS:
            assert not panel.get("targets"), panel["title"]
            continue
        targets = panel.get("targets", [])
        assert targets, f"{panel['title']} queries nothing"
        assert all(t.get("expr", "").strip() for t in targets), panel["title"]
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), panel["title"]


def test_dashboard_has_the_required_panels() -> None:
    titles = {panel["title"] for panel in panels()}
    types = {panel["type"] for panel in panels()}
    assert "alertlist" in types
    required = {
        "Events/s by outcome",
        "Dead letters/s by reason",
        "Consumer lag by partition",
        "Segment sizes",
        "Segment changes/s by reason",
        "Segment entries and exits",
        "Emit latency",
        "Event-time lag",
        "Batch duration",
        "Model version",
        "Silhouette",
        "Near-boundary share",
        "Centroid shift at model updates",
        "PSI by subject",
        "Drift detections",
        "Conversion rate by segment",
    }
    assert required <= titles, required - titles


def test_alert_list_shows_every_alert() -> None:
    (alert_list,) = [panel for panel in panels() if panel["type"] == "alertlist"]
    prefix = alert_list["options"]["alertName"]
    assert prefix
    assert all(name.startswith(prefix) for name in alerts())


def datasource_refs(node: Any) -> list[dict[str, Any]]:
    """Every ``datasource`` object anywhere in the dashboard."""
    if isinstance(node, list):
        return [ref for item in node for ref in datasource_refs(item)]
    if not isinstance(node, dict):
        return []
    found = [node["datasource"]] if isinstance(node.get("datasource"), dict) else []
    return found + [ref for value in node.values() for ref in datasource_refs(value)]


def test_dashboard_queries_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    (prometheus,) = [ds for ds in provisioned if ds["type"] == "prometheus"]
    refs = [ref for ref in datasource_refs(dashboard()) if ref.get("type") != "grafana"]
    assert len(refs) > 20
    assert {(ref["type"], ref["uid"]) for ref in refs} == {("prometheus", prometheus["uid"])}
    scrape = yaml.safe_load(SCRAPE_CONFIG.read_text())["global"]["scrape_interval"]
    assert prometheus["jsonData"]["timeInterval"] == scrape


def test_dashboard_provider_loads_the_dashboards_directory() -> None:
    (provider,) = yaml.safe_load(DASHBOARD_PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    # The directory mounted there is deploy/grafana/dashboards: the README says how.
    readme = (ROOT / "deploy" / "README.md").read_text()
    assert f"deploy/grafana/dashboards:{path}" in readme
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARD.parent.glob("*.json")]
    assert len(uids) == len(set(uids))
