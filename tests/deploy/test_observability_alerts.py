"""The alert rules agree with the code: ``promtool`` checks them and runs their unit
tests, and every alert uses exported metrics, has its labels, annotations (a link to its
own runbook among them) and tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from schemas.config import DriftConfig
from tests.deploy.observability_helpers import (
    ALERTS,
    ALERTS_TEST,
    PROMETHEUS,
    ROOT,
    SCRAPE_CONFIG,
    alerts,
    rules,
    run,
    unknown_names_and_labels,
)

SEVERITIES = {"critical", "warning", "info"}
RUNBOOKS = "docs/runbooks.md"  # from the repository root, as the links are written


# --- promtool ---------------------------------------------------------------------


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


# --- the rules ----------------------------------------------------------------------


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


def test_every_alert_links_its_own_runbook() -> None:
    for name, rule in alerts().items():
        assert rule["annotations"].get("runbook_url") == f"{RUNBOOKS}#{name.lower()}", name


def test_every_runbook_link_leads_to_a_heading() -> None:
    """The anchor is GitHub's for the alert's ``## <AlertName>`` heading in the runbooks."""
    headings = re.findall(r"^## (.+?)\s*$", (ROOT / RUNBOOKS).read_text(), re.M)
    anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
    for name, rule in alerts().items():
        page, anchor = rule["annotations"]["runbook_url"].split("#")
        assert page == RUNBOOKS, name
        assert anchor in anchors, f"{name}: no heading for #{anchor} in {RUNBOOKS}"


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
