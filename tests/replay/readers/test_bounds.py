"""Every reader applies the contracts' bounds: event time before the floor is
``out_of_range`` (the floor is the config's), a boolean for a number is ``invalid``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.sources import Record, Reject
from schemas.config import InputBoundsConfig

WriteLog = Callable[..., Path]
ReadRows = Callable[..., list[Record | Reject]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FLOOR_MS = 631_152_000_000  # 1990-01-01T00:00:00Z, the default floor
EVENT = {"event_id": "e1", "customer_id": "c1", "type": "purchase", "amount": 5}
PROFILE = {"customer_id": "c1", "attributes": {"age": 40}}
ERASURE = {"customer_id": "c1", "request_id": "r1"}
CONTRACTS = {"behaviour": EVENT, "profile": PROFILE, "erasure": ERASURE}


def line(role: str, **fields: Any) -> str:
    return json.dumps({"_topic": role, **CONTRACTS[role], **fields})


def only_reject(items: list[Record | Reject]) -> Reject:
    (item,) = items
    assert isinstance(item, Reject), item
    return item


# --- JSON Lines: each contract, as the topics have it ------------------------------------

JSONL_REJECTS = [
    *(
        pytest.param(line(role, timestamp=at), "out_of_range", "floor", id=f"{role}-{name}")
        for role in CONTRACTS
        for name, at in [
            ("iso-1969", "1969-12-31T23:59:59Z"),
            ("iso-just-before-1990", "1989-12-31T23:59:59.999+00:00"),
            ("ms-just-before-1990", FLOOR_MS - 1),
            ("epoch-seconds", 1_767_225_600),
        ]
    ),
    *(
        pytest.param(line(role, timestamp=True), "invalid", "timestamp", id=f"{role}-bool-time")
        for role in CONTRACTS
    ),
    pytest.param(
        line("behaviour", timestamp=FLOOR_MS, amount=True), "invalid", "boolean", id="bool-amount"
    ),
    pytest.param(
        line("profile", timestamp=FLOOR_MS, attributes={"age": False}),
        "invalid",
        "boolean",
        id="bool-age",
    ),
]


@pytest.mark.parametrize("fast", [True, False], ids=["as-written", "mapped"])
@pytest.mark.parametrize(("text", "reason", "error"), JSONL_REJECTS)
def test_jsonl_rejects_out_of_range_and_boolean_numbers(
    write_log: WriteLog, read_rows: ReadRows, text: str, reason: str, error: str, fast: bool
) -> None:
    options = {} if fast else {"columns": {"customer_id": "customer_id"}}  # the slow path
    reject = only_reject(read_rows(write_log("log.jsonl", text), **options))
    assert (reject.origin, reject.reason) == ("log.jsonl:1", reason)
    assert error in reject.error and reject.raw == text


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(role=st.sampled_from(sorted(CONTRACTS)), at=st.integers(FLOOR_MS, 946_684_800_000))
def test_jsonl_epoch_ms_from_the_floor_to_2000_are_read(
    write_log: WriteLog, read_rows: ReadRows, role: str, at: int
) -> None:
    (item,) = read_rows(write_log("log.jsonl", line(role, timestamp=at)))
    assert isinstance(item, Record)
    assert item.event.timestamp == EPOCH + timedelta(milliseconds=at)


def test_the_floor_is_the_callers(write_log: WriteLog, read_rows: ReadRows) -> None:
    path = write_log("log.jsonl", line("behaviour", timestamp="2019-12-31T23:00:00Z"))
    assert isinstance(read_rows(path)[0], Record)  # the default floor: 1990
    reject = only_reject(
        read_rows(path, bounds=InputBoundsConfig(timestamp_floor=datetime(2020, 1, 1, tzinfo=UTC)))
    )
    assert reject.reason == "out_of_range" and "2020-01-01T00:00:00+00:00" in reject.error


def test_a_line_over_the_byte_limit_is_too_large(write_log: WriteLog, read_rows: ReadRows) -> None:
    note = {"note": "n" * 900}  # within the value length, not within 1,000 bytes a line
    path = write_log("log.jsonl", line("behaviour", timestamp=FLOOR_MS, properties=note))
    assert isinstance(read_rows(path)[0], Record)  # the default: 100,000 bytes
    reject = only_reject(read_rows(path, bounds=InputBoundsConfig(max_message_bytes=1_000)))
    assert reject.reason == "too_large" and "the limit is 1,000" in reject.error


# --- CSV and Parquet: times in the common formats, then the same floor -----------------------


@pytest.mark.parametrize(
    ("row", "reason", "error"),
    [
        ("c1,1989-12-31 23:59:59,purchase,5", "out_of_range", "floor"),
        ("c1,631151999,purchase,5", "out_of_range", "floor"),  # epoch seconds here
        ("c1,19691231,purchase,5", "out_of_range", "floor"),
        ("c1,1989-12-31,profile_update,", "out_of_range", "floor"),
        ("c1,1989-12-31,erasure_request,", "out_of_range", "floor"),
        ("c1,2026-01-01,purchase,true", "invalid", "amount"),
    ],
)
def test_csv_rejects_out_of_range_and_non_numbers(
    write_log: WriteLog, read_rows: ReadRows, row: str, reason: str, error: str
) -> None:
    path = write_log("events.csv", "customer_id,timestamp,type,amount", row)
    reject = only_reject(read_rows(path))
    assert (reject.origin, reject.reason) == ("events.csv:2", reason)
    assert error in reject.error


def test_parquet_rejects_out_of_range_and_booleans_for_numbers(
    tmp_path: Path, read_rows: ReadRows
) -> None:
    day = datetime(2026, 1, 1)
    table = pa.table(
        {
            "customer_id": ["c1", "c1", "c1", "c1"],
            "timestamp": pa.array([datetime(1989, 12, 31), day, day, day], pa.timestamp("ms")),
            "type": ["purchase", "purchase", "profile_update", "page_view"],
            "amount": pa.array([None, True, None, None], pa.bool_()),  # native booleans
            "age": pa.array([None, None, False, None], pa.bool_()),
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    *rejects, last = read_rows(path)
    assert [(r.reason, r.error.partition(":")[0]) for r in rejects] == [  # type: ignore[union-attr]
        ("out_of_range", "timestamp"),
        ("invalid", "amount"),
        ("invalid", "attributes.age"),
    ]
    assert isinstance(last, Record)  # the same row with no number in it is read
