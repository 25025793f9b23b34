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
from cli.generate import Message, send
from cli.local import wait_for_count
from schemas.drift import DriftDetected
from synthetic import DEFAULT_START_MS, Shift, generate
from tests.conftest import PrometheusServer, RunningWorker

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


def start_scraped_worker(
    start_worker: Callable[..., RunningWorker],
    start_prometheus: Callable[..., PrometheusServer],
    rules: list[Path],
) -> tuple[RunningWorker, PrometheusServer]:
    """A worker watching the features the planted shift moves, its input topics made,
    and a Prometheus scraping it with ``rules`` loaded: (worker, prometheus)."""
    worker = start_worker(engine=ENGINE, topic_partitions=1)
    settings = worker.settings
    prom = start_prometheus(f"{settings.web_bind}:{settings.web_port}", rules, JOB)
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])
    # A counter's first increment shows as a rate only if Prometheus saw it at 0 first:
    # nothing is sent before the first scrape (the dead-letter series start at 0).
    deadline = time.monotonic() + 60
    while prom.value("count(segment_engine_dead_letters_total)") is None:
        assert time.monotonic() < deadline, "Prometheus did not scrape the worker"
        time.sleep(0.5)
    return worker, prom


def planted_shift() -> tuple[list[Message], list[Message], float]:
    """The generated stream split at the shift, and when the shift starts (epoch ms):
    (before, after, shift_ms)."""
    shift = Shift(SHIFT_AT, "bargain_hunters", "high_value_loyal", 1.0)
    messages = list(generate(CUSTOMERS, DAYS, seed=11, shift=shift, with_profiles=False))
    shift_ms = DEFAULT_START_MS + SHIFT_AT * DAYS * DAY_MS
    before = [m for m in messages if _ms(m["value"]["timestamp"]) < shift_ms]
    return before, messages[len(before) :], shift_ms


def test_a_planted_shift_raises_drift_metrics_and_fires_the_alert(
    start_worker: Callable[..., Any], start_prometheus: Callable[..., Any], tmp_path: Path
) -> None:
    alert, rules = drift_alert(tmp_path)
    worker, prom = start_scraped_worker(start_worker, start_prometheus, [rules])
    settings = worker.settings
    t = settings.topics
    before, after, shift_ms = planted_shift()
    messages = before + after
    send(before, settings)
    wait_for_count(worker.metrics_url, len(before), timeout=240)
    # The worker can finish between two scrapes: read Prometheus once it has them.
    wait_scraped(prom, len(before))
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


def wait_scraped(prom: PrometheusServer, events: int, timeout: float = 30.0) -> None:
    """Until Prometheus has scraped ``events`` counted input messages."""
    deadline = time.monotonic() + timeout
    while (prom.value("sum(segment_engine_events_total)") or 0) < events:
        assert time.monotonic() < deadline, f"Prometheus did not scrape {events} events"
        time.sleep(0.5)


def _scraped_detections(prom: Any) -> float:
    return prom.value("sum(segment_engine_drift_detections_total)") or 0.0


def _ms(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp() * 1000
