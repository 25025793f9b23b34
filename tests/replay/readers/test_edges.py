"""Inputs at the edges: each reader rejects a row it cannot read and carries on, and a
file it cannot read at all is one line (``SourceError``). None raises anything else.

Every case here raised out of ``read_log`` as a traceback before (RecursionError,
OverflowError, csv's field limit ending the whole read, KeyError, UnicodeDecodeError).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replay.errors import SourceError
from replay.sources import ColumnMap, Record, Reject, read_log
from schemas.config import InputBoundsConfig

WriteLog = Callable[..., Path]
ReadRows = Callable[..., list[Record | Reject]]
DEEP = 100_000
EVENT = {
    "event_id": "e1",
    "customer_id": "c1",
    "type": "purchase",
    "timestamp": "2026-01-01T00:00:00Z",
    "amount": 10.0,
}
GOOD = json.dumps(EVENT)
GOOD_CSV = "c1,2026-01-01T00:00:00Z,page_view"
HEADER = "customer_id,timestamp,type"
MAPPED = {"columns": ColumnMap.parse(["customer_id=user"]).columns}
# Lines up to the largest size a deployment may allow: deep nesting is what is tested.
ROOMY = InputBoundsConfig(max_message_bytes=900_000)


def kinds(items: list[Record | Reject]) -> list[str]:
    return [item.reason if isinstance(item, Reject) else "record" for item in items]


# --- JSON Lines: nesting ------------------------------------------------------------------

DEEP_LINES = [
    pytest.param("[" * DEEP + "]" * DEEP, id="arrays"),
    pytest.param('{"a":' * DEEP + "1" + "}" * DEEP, id="objects"),
    pytest.param("[" * DEEP, id="arrays-never-closed"),
    pytest.param('{"customer_id": ' + "[" * DEEP + "]" * DEEP + "}", id="deep-value"),
    pytest.param('{"_topic": "behaviour", "a": ' + "[" * DEEP + "]" * DEEP + "}", id="topic"),
    pytest.param(
        '{"c": 1, "_topic": "behaviour", "a": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}",
        id="topic-not-first",
    ),
]


@pytest.mark.parametrize("options", [{}, MAPPED], ids=["as-is", "mapped"])
@pytest.mark.parametrize("line", DEEP_LINES)
def test_a_deeply_nested_line_is_rejected_and_the_replay_goes_on(
    write_log: WriteLog, read_rows: ReadRows, line: str, options: dict[str, object]
) -> None:
    path = write_log("log.jsonl", GOOD, line, GOOD)
    items = read_rows(path, bounds=ROOMY, **options)
    assert [item.position for item in items] == [0, 1, 2]
    reject = items[1]
    assert isinstance(reject, Reject) and reject.reason == "undecodable"
    assert reject.origin == "log.jsonl:2"
    assert "nested too deeply" in reject.error or "recursion limit" in reject.error
    assert isinstance(items[0], Record) and isinstance(items[2], Record)


def test_nesting_just_under_python_s_limit_is_rejected_alike(
    write_log: WriteLog, read_rows: ReadRows
) -> None:
    # Parsed by json, then re-encoded for the contract when names are mapped: either may
    # be where the recursion limit is met, near it.
    lines = ['{"user": "c1", "x": ' + "[" * depth + "]" * depth + "}" for depth in range(900, 1000)]
    items = read_rows(write_log("log.jsonl", *lines), **MAPPED)
    assert set(kinds(items)) == {"undecodable"} and len(items) == len(lines)


# --- CSV ----------------------------------------------------------------------------------


def test_a_csv_cell_over_the_field_limit_rejects_its_row_only(
    write_log: WriteLog, read_rows: ReadRows
) -> None:
    huge = "x" * 200_000  # the csv module's limit is 131,072 characters
    rows = [HEADER, GOOD_CSV, f"c1,2026-01-01T00:00:00Z,{huge}", f'c1,2026,"{huge}"', GOOD_CSV]
    items = read_rows(write_log("log.csv", *rows))
    assert kinds(items) == ["record", "undecodable", "undecodable", "record"]
    assert [item.position for item in items] == [0, 1, 2, 3]
    assert [item.origin for item in items] == [f"log.csv:{n}" for n in (2, 3, 4, 5)]
    assert "field limit" in items[1].error  # type: ignore[union-attr]


def test_a_csv_header_over_the_field_limit_is_a_source_error(write_log: WriteLog) -> None:
    with pytest.raises(SourceError, match="field limit"):
        read_log(write_log("log.csv", "x" * 200_000))


def test_a_quote_never_closed_is_one_reject_with_a_one_line_error(
    write_log: WriteLog, read_rows: ReadRows
) -> None:
    path = write_log("log.csv", HEADER, 'c1,2026-01-01T00:00:00Z,"page_view', GOOD_CSV)
    (item,) = read_rows(path)  # read_rows checks that every error is one line
    assert isinstance(item, Reject) and item.reason == "unknown_event_type"
    assert "\\n" in item.error  # the cell's line break, shown


@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00:00+01:00",  # year 0 in UTC
        "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
        "-" + "9" * 30,
        "9" * 5000,  # more digits than int() reads
    ],
)
def test_a_csv_time_beyond_what_a_datetime_holds_is_rejected(
    write_log: WriteLog, read_rows: ReadRows, timestamp: str
) -> None:
    path = write_log("log.csv", HEADER, f"c1,{timestamp},page_view", GOOD_CSV)
    items = read_rows(path)
    assert kinds(items) == ["invalid", "record"]
    assert items[0].error.startswith("timestamp: ")  # type: ignore[union-attr]


# --- Parquet ------------------------------------------------------------------------------


def parquet(tmp_path: Path, **columns: pa.Array) -> Path:
    table = {
        "customer_id": pa.array(["c1", "c2"]),
        "timestamp": pa.array([1_767_225_600_000] * 2, pa.int64()),
        "type": pa.array(["page_view"] * 2),
        **columns,
    }
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table(table), path)
    return path


@pytest.mark.parametrize(
    "times",
    [
        pytest.param(pa.array([10**13, 1_767_225_600], pa.timestamp("s")), id="year-318857"),
        pytest.param(pa.array([-(10**16), 1_767_225_600_000], pa.timestamp("ms")), id="-316889"),
        pytest.param(pa.array([2**31 - 1, 20_454], pa.date32()), id="date32-max"),
        pytest.param(pa.array([10**15, 1_767_225_600_000], pa.date64()), id="date64"),
    ],
)
def test_a_parquet_time_past_year_9999_rejects_its_row_only(
    tmp_path: Path, read_rows: ReadRows, times: pa.Array
) -> None:
    items = read_rows(parquet(tmp_path, timestamp=times))
    assert kinds(items) == ["out_of_range", "record"]
    assert items[0].error.startswith("column 'timestamp': out of range")  # type: ignore[union-attr]
    assert json.loads(items[0].raw)["timestamp"] is None  # type: ignore[union-attr]


def test_parquet_text_that_is_not_utf8_rejects_its_row_only(
    tmp_path: Path, read_rows: ReadRows
) -> None:
    binary = pa.array([b"c\xff1", b"c2"], pa.binary())
    text = pa.Array.from_buffers(pa.string(), len(binary), binary.buffers())  # unchecked
    items = read_rows(parquet(tmp_path, customer_id=text))
    assert kinds(items) == ["undecodable", "record"]
    assert "not UTF-8" in items[0].error  # type: ignore[union-attr]


def test_a_parquet_time_zone_python_does_not_know_is_a_source_error(tmp_path: Path) -> None:
    times = pa.array([1_767_225_600_000] * 2, pa.timestamp("ms", tz="Nowhere/Atlantis"))
    with pytest.raises(SourceError, match="unknown time zone 'Nowhere/Atlantis'"):
        read_log(parquet(tmp_path, timestamp=times))


def test_two_parquet_columns_of_one_name_are_a_source_error(tmp_path: Path) -> None:
    names = ["customer_id", "customer_id", "timestamp", "type"]
    arrays = [
        pa.array(["c1"]),
        pa.array(["c2"]),
        pa.array([1_767_225_600_000]),
        pa.array(["page_view"]),
    ]
    path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    with pytest.raises(SourceError, match="2 columns are named 'customer_id'"):
        read_log(path)
