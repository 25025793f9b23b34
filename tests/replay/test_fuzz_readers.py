"""Properties of every replay reader, whatever the input: a ``Record`` or a ``Reject``
per row, in order, or one ``SourceError`` line for the file as a whole; nothing raises
out of the iteration. JSON Lines decide as the live decoder does; column maps, times
and mapping files are read or refused with one line.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

from replay.mapping import KNOWN_FIELDS
from replay.sources import (
    ColumnMap,
    Record,
    Reject,
    SourceError,
    parse_range_time,
    parse_time,
    read_log,
)
from schemas.config import InputBoundsConfig
from schemas.dead_letters import DEAD_LETTER_REASONS
from schemas.decode import Rejected, decode
from schemas.events import InputEvent, allowed_types_context
from tests.fuzz.strategies import JSON, NEAR_VALID, ROLES, deep, json_bytes, timestamps

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTEXT = allowed_types_context()
MAPPED = ColumnMap.parse(["customer_id=user", "category=cat"], ["view=page_view"])


@contextmanager
def log_file(name: str, data: bytes) -> Iterator[Path]:
    """``data`` as a file called ``name``, for one example (hypothesis runs many)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        yield path


# Lines up to the largest size a deployment may allow: deep nesting is what is tested.
ROOMY = InputBoundsConfig(max_message_bytes=900_000)


def read_all(path: Path, mapped: bool = False) -> list[Record | Reject] | None:
    """Every row, the promises checked; None when the file as a whole is refused."""
    options: dict[str, object] = {"bounds": ROOMY}
    if mapped:
        options |= {"columns": MAPPED.columns, "types": MAPPED.types}
    try:
        items = read_log(path, **options)  # type: ignore[arg-type]
        # Parquet's pages are read as the rows are: a corrupt one ends the read there.
        items = list(items) if path.suffix == ".parquet" else items
    except SourceError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    rows = list(items)  # a plain text file: nothing raises here, SourceError included
    check_rows(rows, path.name)
    return rows


def check_rows(rows: list[Record | Reject], name: str) -> None:
    assert [row.position for row in rows] == list(range(len(rows)))
    numbers = [int(row.origin.rpartition(":")[2]) for row in rows]
    assert all(row.origin.startswith(f"{name}:") for row in rows)
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for row in rows:
        if isinstance(row, Reject):
            assert row.reason in DEAD_LETTER_REASONS
            assert row.error and "\n" not in row.error and "\r" not in row.error
            row.error.encode("utf-8")  # the rejects file can hold both as they are
            row.raw.encode("utf-8")
        else:
            assert isinstance(row.event, InputEvent)


# --- any bytes, any format ----------------------------------------------------------------

LINES = st.lists(
    st.binary(max_size=80)
    | st.sampled_from(
        [
            b"",
            b"{}",
            b"[]",
            b"\xef\xbb\xbf{",
            b'{"_topic": "behaviour", ',
            b"customer_id,timestamp,type",
            b'"',
            b"\r",
            b"\x00",
        ]
    ),
    max_size=12,
).map(b"\n".join)


@FUZZ
@given(data=LINES, suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]), mapped=st.booleans())
def test_any_bytes_in_any_format(data: bytes, suffix: str, mapped: bool) -> None:
    with log_file(f"log{suffix}", data) as path:
        read_all(path, mapped)


@FUZZ
@given(
    rows=st.lists(st.lists(st.text(max_size=20), max_size=5), max_size=8),
    header=st.lists(st.sampled_from([*KNOWN_FIELDS, "user", "cat", "x"]), min_size=1, max_size=8),
    mapped=st.booleans(),
)
def test_csv_of_any_cells(rows: list[list[str]], header: list[str], mapped: bool) -> None:
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    with log_file("log.csv", text.getvalue().encode()) as path:
        items = read_all(path, mapped)
    if items is not None:  # a row is one item, a blank line none
        assert len(items) == sum(1 for row in rows if row)


@FUZZ
@given(
    lines=st.lists(
        JSON.map(json_bytes)
        | st.integers(1, 3000).map(lambda n: deep(n).encode())
        | st.integers(1, 3000).map(lambda n: deep(n, '{"a":', "}").encode()),
        min_size=1,
        max_size=6,
    ),
    mapped=st.booleans(),
)
def test_json_lines_of_any_json(lines: list[bytes], mapped: bool) -> None:
    with log_file("log.jsonl", b"\n".join(lines)) as path:
        items = read_all(path, mapped)
    assert items is not None and len(items) == len(lines)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), source=st.sampled_from(sorted(ROLES)), ascii_only=st.booleans())
def test_json_lines_decide_as_the_live_decoder(
    data: st.DataObject, source: str, ascii_only: bool
) -> None:
    value = data.draw(NEAR_VALID[source])
    key = value.get("customer_id")
    try:
        body = json_bytes(value, ascii_only)
    except ValueError:  # inf or nan: no JSON text holds it
        reject()
    live = decode(source, key.encode() if isinstance(key, str) else None, body, CONTEXT)
    line = json_bytes({"_topic": ROLES[source], **value}, ascii_only)
    with log_file("log.jsonl", line) as path:
        items = read_all(path)
    assert items is not None
    (item,) = items
    event(live.reason if isinstance(live, Rejected) else "accepted")
    if isinstance(live, Rejected):
        assert isinstance(item, Reject), (live, item)
        assert item.reason == live.reason
    else:
        assert isinstance(item, Record), (live, item)
        assert item.event == live


# --- Parquet: columns of any type ---------------------------------------------------------

_COLUMNS = {
    "text": (pa.string(), st.text(max_size=10)),
    "int": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float": (pa.float64(), st.floats()),
    "bool": (pa.bool_(), st.booleans()),
    "seconds": (pa.timestamp("s"), st.integers(-(2**53), 2**53)),  # written as ms
    "ms-utc": (pa.timestamp("ms", tz="UTC"), st.integers(-(2**62), 2**62)),
    "ns": (pa.timestamp("ns"), st.integers(-(2**63) + 1, 2**63 - 1)),
    "date32": (pa.date32(), st.integers(-(2**31), 2**31 - 1)),
    "binary": (pa.binary(), st.binary(max_size=6)),
}


@st.composite
def parquet_tables(draw: st.DrawFn) -> pa.Table:
    rows = draw(st.integers(0, 6))
    table = {}
    for name in ("customer_id", "timestamp", "type", "amount", "category"):
        kind, values = _COLUMNS[draw(st.sampled_from(sorted(_COLUMNS)))]
        cells = draw(st.lists(st.none() | values, min_size=rows, max_size=rows))
        if kind == pa.string() and name == "type":
            cells = [draw(st.sampled_from(["page_view", "purchase", "x"])) for _ in cells]
        table[name] = pa.array(cells, kind)
    return pa.table(table)


@FUZZ
@given(table=parquet_tables())
def test_parquet_of_any_column_types(table: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    with log_file("log.parquet", sink.getvalue().to_pybytes()) as path:
        items = read_all(path)
    assert items is not None and len(items) == table.num_rows


# --- column maps, mapping files, times ----------------------------------------------------

ITEMS = st.lists(
    st.text(max_size=20) | st.sampled_from(["customer_id=user", "age=a", "=", "x="]), max_size=4
)


@FUZZ
@given(maps=ITEMS, type_maps=ITEMS)
def test_column_maps_from_any_flags(maps: list[str], type_maps: list[str]) -> None:
    try:
        mapping = ColumnMap.parse(maps, type_maps)
    except SourceError as exc:
        assert "\n" not in str(exc)
        return
    assert all(field in KNOWN_FIELDS or "." in field for field in mapping.columns)


@FUZZ
@given(
    data=st.binary(max_size=200) | JSON.map(json_bytes), suffix=st.sampled_from([".toml", ".json"])
)
def test_mapping_files_of_any_bytes(data: bytes, suffix: str) -> None:
    with log_file(f"map{suffix}", data) as path:
        try:
            ColumnMap.load(path)
        except SourceError as exc:
            assert str(exc).startswith(f"mapping file {path}")


@FUZZ
@given(value=timestamps() | st.text(max_size=30) | st.floats() | st.datetimes(timezones=st.none()))
def test_parse_time_gives_utc_or_a_value_error(value: Any) -> None:
    try:
        moment = parse_time(value)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(moment, datetime) and moment.tzinfo is UTC


@FUZZ
@given(text=st.text(max_size=30) | timestamps().map(str))
def test_parse_range_time_gives_epoch_ms_or_a_source_error(text: str) -> None:
    try:
        assert isinstance(parse_range_time(text), int)
    except SourceError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("depth", [10, 1000, 100_000])
def test_nested_json_lines_of_any_depth_are_rows(depth: int) -> None:
    lines = [deep(depth).encode(), deep(depth, '{"a":', "}").encode(), json_bytes({"x": 1})]
    with log_file("log.jsonl", b"\n".join(lines)) as path:
        items = read_all(path)
    assert items is not None and {item.reason for item in items} == {"undecodable", "invalid"}  # type: ignore[union-attr]
