"""Every dashboard query and every recording rule shows data, on real parts: a worker
fed the planted drift shift (test_prometheus_drift.py) plus a few malformed messages,
scraped every second by a real Prometheus with deploy/prometheus/alerts.yml loaded.

Each panel target, annotation and variable runs as Grafana runs it: its variables
filled in as Grafana fills them for the dashboard's default range on the provisioned
data source, as a range query (start and end on whole steps) unless the target is
instant. It must return a value that is not NaN, and more than 0 where the run produced
what it counts (``COUNTED``); each recording rule's recorded series too. A query whose
window reaches back further than the run is asked later (``AHEAD``). A failure names
the panel target or rule: one subtest each (the worker and Prometheus are started once,
which parametrised tests on function-scoped fixtures could not do).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from brokers.clients import producer
from brokers.embedded import EmbeddedBroker
from cli.generate import send
from cli.local import wait_for_count
from settings import Settings
from synthetic import DEFAULT_START_MS
from tests.conftest import PrometheusServer, RunningWorker
from tests.deploy.observability_helpers import (
    ALERTS,
    dashboard_queries,
    grafana_to_promql,
    grafana_view,
    rules,
    seconds,
)
from tests.integration.test_prometheus_drift import (
    planted_shift,
    start_scraped_worker,
    wait_scraped,
)

pytestmark = pytest.mark.integration

# Queries whose window reaches further back than a short run, asked that far ahead of
# now instead: the expression unchanged, evaluated at a time when its offset window
# covers the run (no samples come after it). What they return then is what the panel
# or rule will show of this run.
AHEAD = {
    # The dashed line, all reasons a day before: a day on, it shows this run.
    "panel 43 B": 86_400,
    # The 6 hours before the last 10 minutes: 10 minutes on, they hold this run. (Its
    # recorded series has no sample until then: the rule's expression is asked.)
    "rule job:segment_engine_segment_changes:rate10m_baseline": 600,
}

# Queries of what the run certainly produced, which must show more than 0: a counter
# series born with its first increment (a rare dead-letter reason) shows 0/s.
COUNTED = {
    "panel 7 A",  # dead-letter share
    "panel 21 A",  # events/s
    "panel 22 A",  # dead letters/s
    "panel 43 A",  # segment changes/s
    "panel 44 A",  # segment entries
    "panel 64 A",  # drift detections
    "rule job:segment_engine_events:rate5m",
    "rule job:segment_engine_dead_letters:rate5m",
    "rule job:segment_engine_dead_letters:ratio_rate5m",
    "rule job:segment_engine_segment_changes:rate10m",
}

# The per-segment KPIs come from a timer, a minute after the worker starts
# (streams/app.py); step-aligned ranges see a new series up to a step later.
SETTLE_SECONDS = 150


@pytest.fixture
def broker(tansu: EmbeddedBroker) -> EmbeddedBroker:
    return tansu  # the series are the worker's and Prometheus's, whatever the broker


def malformed(settings: Settings) -> list[tuple[str, bytes]]:
    """(topic, value): three dead-letter reasons, from two sources."""
    t = settings.topics
    ok = {"event_id": "m-1", "customer_id": "m1", "type": "purchase", "timestamp": DEFAULT_START_MS}
    profile = {"customer_id": "m1", "timestamp": DEFAULT_START_MS, "attributes": {"age": 200}}
    return [
        (t.behaviour, b"{not json"),  # undecodable
        (t.behaviour, json.dumps({**ok, "type": "teleport"}).encode()),  # unknown_event_type
        (t.profiles, json.dumps(profile).encode()),  # invalid
    ]


@dataclass(frozen=True)
class Check:
    """One query for Prometheus; ``where`` names the panel target or the rule."""

    where: str
    promql: str
    instant: bool
    step_seconds: int = 0  # range queries: Grafana's step
    range_seconds: int = 0  # range queries: how far back from now
    ahead_seconds: int = 0
    counted: bool = False

    def named(self, key: str) -> bool:
        return self.where == key or self.where.startswith(key + " (")


def checks() -> list[Check]:
    view = grafana_view()
    found = [
        Check(
            query.where,
            grafana_to_promql(query.expr, view),
            query.instant,
            seconds(query.step) if query.step else view.interval_seconds,
            view.range_seconds,
        )
        for query in dashboard_queries()
    ]
    recorded = {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}
    found += [Check(f"rule {name}", name, instant=True) for name in recorded]
    for key, ahead in AHEAD.items():
        (check,) = [c for c in found if c.named(key)]
        promql = recorded.get(key.removeprefix("rule "), check.promql)
        found[found.index(check)] = replace(check, promql=promql, ahead_seconds=ahead)
    for key in COUNTED:
        (check,) = [c for c in found if c.named(key)]
        found[found.index(check)] = replace(check, counted=True)
    return found


def values(prom: PrometheusServer, check: Check) -> list[float]:
    """Every value ``check`` returns, asked as Grafana asks: over its range ending now
    (start and end rounded down to whole steps), or at now; ``ahead_seconds`` on."""
    now = time.time() + check.ahead_seconds
    if check.instant:
        result = prom.api("query", query=check.promql, time=f"{now:.3f}")["result"]
        return [float(series["value"][1]) for series in result]
    step = check.step_seconds
    start, end = (now - check.range_seconds) // step * step, now // step * step
    params = {"start": str(start), "end": str(end), "step": str(step)}
    result = prom.api("query_range", query=check.promql, **params)["result"]
    return [float(value) for series in result for _, value in series["values"]]


def problem(check: Check, found: list[float]) -> str | None:
    """Why ``found`` is not what the panel or rule should show; None if it is."""
    shown = [value for value in found if not math.isnan(value)]
    if not shown:
        return f"no data ({len(found)} NaN)"
    if check.counted and max(shown) <= 0:
        return f"only {max(shown)}, though the run produced what it counts"
    return None


def test_every_dashboard_query_and_recording_rule_shows_data(
    start_worker: Callable[..., RunningWorker],
    start_prometheus: Callable[..., PrometheusServer],
    subtests: pytest.Subtests,
) -> None:
    todo = checks()
    worker, prom = start_scraped_worker(start_worker, start_prometheus, [ALERTS])
    settings = worker.settings
    before, after, _ = planted_shift()
    bad = malformed(settings)
    send(before, settings)
    with producer(settings) as client:
        for topic, value in bad:
            client.send(topic, key=b"m1", value=value)
        client.flush()
    send(after, settings)
    sent = len(before) + len(bad) + len(after)
    wait_for_count(worker.metrics_url, sent, timeout=240)
    wait_scraped(prom, sent)

    # Some series come later (the KPI timer, the next whole step): ask again until
    # every check passes or the time is up, then report each check on its own.
    found: dict[Check, list[float]] = {}
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        found |= {check: values(prom, check) for check in todo}
        todo = [check for check in todo if problem(check, found[check])]
        if not todo or time.monotonic() > deadline:
            break
        time.sleep(1)
    for check, got in found.items():
        with subtests.test(check.where):
            assert problem(check, got) is None, (
                f"{check.where}: {problem(check, got)} from {check.promql}; see {prom.log}"
            )
