"""Drift, end to end on real parts: broker, worker, and a real Prometheus scraping it
with the shipped alert rules. A planted shift must raise the drift metrics and fire
the drift alert."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from brokers.clients import ensure_topics
from cli.generate import send
from cli.local import wait_for_count
from schemas.drift import DriftDetected
from synthetic import DEFAULT_START_MS, Shift, generate

pytestmark = pytest.mark.integration

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "alerts.yml"
DAY_MS = 86_400_000
CUSTOMERS, DAYS, SHIFT_AT = 90, 80, 0.6
# The 30-day features have filled their windows by day 35, so the reference taken
# then is steady; the 90-day ones would still be ramping up.
WATCHED = ["frequency_30d", "avg_order_value", "sessions_30d", "product_views_30d"]
ENGINE = {
    "learned": {"warmup_updates": 200, "publish_every": 400},
    "drift": {"features": WATCHED, "reference_delay_seconds": 35 * 86400, "reference_size": 300},
}
JOB = "segment-engine"


def drift_alert(tmp_path: Path) -> tuple[str, Path]:
    """The shipped alert on drift detections, with its ``for:`` cut to 0 s so a test
    need not wait minutes: the expression is the one SREs get."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule and "segment_engine_drift_detections_total" in rule["expr"]:
                rule["for"] = "0s"
                path = tmp_path / "alerts.yml"
                path.write_text(yaml.safe_dump(rules))
                return str(rule["alert"]), path
    raise AssertionError("alerts.yml has no alert on segment_engine_drift_detections_total")


def test_a_planted_shift_raises_drift_metrics_and_fires_the_alert(
    start_worker: Callable[..., Any], start_prometheus: Callable[..., Any], tmp_path: Path
) -> None:
    alert, rules = drift_alert(tmp_path)
    worker = start_worker(engine=ENGINE, topic_partitions=1)
    settings = worker.settings
    prom = start_prometheus(f"{settings.web_bind}:{settings.web_port}", [rules], JOB)
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])

    shift = Shift(SHIFT_AT, "bargain_hunters", "high_value_loyal", 1.0)
    messages = list(generate(CUSTOMERS, DAYS, seed=11, shift=shift, with_profiles=False))
    shift_ms = DEFAULT_START_MS + SHIFT_AT * DAYS * DAY_MS
    before = [m for m in messages if _ms(m["value"]["timestamp"]) < shift_ms]
    after = messages[len(before) :]
    send(before, settings)
    wait_for_count(worker.metrics_url, len(before), timeout=240)
    # The worker can finish between two scrapes: read Prometheus once it has them.
    _wait_scraped(prom, len(before))
    detections_before = _scraped_detections(prom)
    psi_before = prom.value('max(segment_engine_drift_score{detector="psi"})')
    assert psi_before is not None, "the reference completed before the shift: PSI is scored"

    send(after, settings)
    wait_for_count(worker.metrics_url, len(messages), timeout=240)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # Prometheus scrapes and evaluates every second
        firing = prom.query(f'ALERTS{{alertname="{alert}", alertstate="firing"}}')
        if firing and _scraped_detections(prom) > detections_before:
            break
        time.sleep(1)
    assert firing, f"{alert} did not fire; see {prom.log}"
    assert _scraped_detections(prom) > detections_before
    psi_after = prom.value('max(max_over_time(segment_engine_drift_score{detector="psi"}[10m]))')
    assert psi_after is not None and psi_after > psi_before

    events = [DriftDetected.model_validate_json(m.value) for m in worker.read(t.drift)]
    assert events, "detections also go to the drift topic"
    assert any(e.detected_at.timestamp() * 1000 >= shift_ms for e in events)


def _wait_scraped(prom: Any, events: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (prom.value("sum(segment_engine_events_total)") or 0) < events:
        assert time.monotonic() < deadline, f"Prometheus did not scrape {events} events"
        time.sleep(0.5)


def _scraped_detections(prom: Any) -> float:
    return prom.value("sum(segment_engine_drift_detections_total)") or 0.0


def _ms(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp() * 1000
