"""Parquet: mapped columns, native types, numeric ids as text; batches keep positions."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replay.readers import parquet_file
from replay.sources import ColumnMap, Record, Reject, derived_event_id
from schemas.events import BehaviourEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ReadRows = Callable[..., list[Record | Reject]]


def parquet_log(tmp_path: Path, table: pa.Table, name: str = "events.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_parquet_with_mapping_and_native_types(tmp_path: Path, read_rows: ReadRows) -> None:
    table = pa.table(
        {
            "user": pa.array([7, 8, 9], pa.int64()),  # numeric ids become text
            "ts": pa.array([T0.replace(tzinfo=None)] * 3, pa.timestamp("ms")),
            "event": ["view", "buy", "teleport"],
            "value": pa.array([None, 2.5, 1.0], pa.float64()),
        }
    )
    mapping = ColumnMap.parse(
        ["customer_id=user", "timestamp=ts", "type=event", "amount=value"],
        ["view=page_view", "buy=purchase"],
    )
    path = parquet_log(tmp_path, table)
    first, second, third = read_rows(path, columns=mapping.columns, types=mapping.types)
    assert isinstance(first, Record) and isinstance(first.event, BehaviourEvent)
    assert (first.event.customer_id, first.event.type, first.event.timestamp) == (
        "7",
        "page_view",
        T0,
    )
    assert first.event.amount is None and first.event.event_id == derived_event_id(
        "events.parquet:1"
    )
    assert isinstance(second, Record) and second.event.amount == 2.5  # type: ignore[union-attr]
    assert isinstance(third, Reject)
    assert (third.position, third.origin, third.reason) == (
        2,
        "events.parquet:3",
        "unknown_event_type",
    )
    assert json.loads(third.raw)["event"] == "teleport"


def test_parquet_reads_in_batches_keeping_positions(
    tmp_path: Path, read_rows: ReadRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_file, "_BATCH_ROWS", 7)
    count = 50
    table = pa.table(
        {
            "customer_id": [f"c{i}" for i in range(count)],
            "timestamp": pa.array(
                [T0 + timedelta(seconds=i) for i in range(count)], pa.timestamp("us", tz="UTC")
            ),
            "type": ["page_view"] * count,
            "unused": list(range(count)),
        }
    )
    items = read_rows(parquet_log(tmp_path, table))
    assert [item.position for item in items] == list(range(count))
    assert [item.event.customer_id for item in items] == [f"c{i}" for i in range(count)]  # type: ignore[union-attr]
    assert items[-1].event.timestamp == T0 + timedelta(seconds=count - 1)  # type: ignore[union-attr]
