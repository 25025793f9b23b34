"""The Grafana dashboard and its provisioning agree with the code: every query parses
(``promtool``) and uses exported metrics, the panels are complete, and the datasource
and dashboard providers are the provisioned ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.observability_helpers import (
    DASHBOARD,
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    ROOT,
    SCRAPE_CONFIG,
    GrafanaView,
    alerts,
    dashboard,
    dashboard_expressions,
    grafana_to_promql,
    grafana_view,
    panels,
    run,
    unknown_names_and_labels,
)

# Panels that query nothing by design.
TARGETLESS = {"row", "alertlist"}


@pytest.mark.parametrize(
    ("view", "interval", "rate_interval"),
    [
        (GrafanaView(6 * 3600, 15), "20s", "60s"),  # the dashboard's 6 h on 15 s scrapes
        (GrafanaView(3600, 15), "15s", "60s"),  # 3.6 s a point: the scrape interval is the floor
        (GrafanaView(7 * 86400, 15), "600s", "615s"),  # a week: 10 min a point, plus a scrape
        (GrafanaView(6 * 3600, 60), "60s", "240s"),
    ],
)
def test_grafana_variables_take_grafanas_values(
    view: GrafanaView, interval: str, rate_interval: str
) -> None:
    expr = (
        "rate(m[$__rate_interval]) + increase(m[$__range]) + $__interval_ms + sum(m[${__interval}])"
    )
    promql = grafana_to_promql(expr, view)
    assert promql == (
        f"rate(m[{rate_interval}]) + increase(m[{view.range_seconds}s])"
        f" + {int(interval[:-1]) * 1000} + sum(m[{interval}])"
    )
    assert grafana_to_promql('label_replace(m{job=~"$job"}, "a", "$1", "b", "(.*)")', view) == (
        'label_replace(m{job=~"segment-engine.*"}, "a", "$1", "b", "(.*)")'
    )
    with pytest.raises(AssertionError, match="unknown variable"):
        grafana_to_promql("rate(m[$__rate_intervall])", view)


def test_the_dashboard_view_is_its_default_range_on_the_provisioned_scrape_interval() -> None:
    view = grafana_view()
    assert view.range_seconds == 6 * 3600
    assert view.scrape_seconds == 15
    assert grafana_to_promql("rate(m[$__rate_interval])") == "rate(m[60s])"


def test_dashboard_expressions_parse(promtool: str, tmp_path: Path) -> None:
    """Every dashboard query, Grafana's variables filled in, as a recording rule."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": grafana_to_promql(expr)}
        for index, (_, expr) in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


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
