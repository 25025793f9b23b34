"""``read_log``: every format, mappings and time formats; rejects with reasons and origins."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.generate import write_jsonl
from replay import sources
from replay.sources import (
    ColumnMap,
    Record,
    Reject,
    SourceError,
    derived_event_id,
    parse_range_time,
    parse_time,
    read_log,
)
from schemas.dead_letters import DEAD_LETTER_REASONS
from schemas.events import BehaviourEvent, ErasureRequest, ProfileUpdate
from synthetic import generate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVENT = {
    "event_id": "e1",
    "customer_id": "c1",
    "type": "purchase",
    "timestamp": "2026-01-01T00:00:00+00:00",
    "amount": 10.0,
    "currency": "EUR",
    "properties": {"channel": "web"},
}
PROFILE = {"customer_id": "c1", "timestamp": 1_767_225_600_000, "attributes": {"city": "Berlin"}}
ERASURE = {"customer_id": "c1", "timestamp": "2026-01-01T00:00:00Z", "request_id": "r1"}


def lines(tmp_path: Path, *rows: str | bytes, name: str = "log.jsonl") -> Path:
    path = tmp_path / name
    data = b"".join((row if isinstance(row, bytes) else row.encode()) + b"\n" for row in rows)
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def csv_file(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    data = text.strip().encode() + b"\n"
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def dumps(value: dict[str, Any], **extra: Any) -> str:
    return json.dumps({**extra, **value})


def only(items: list[Record | Reject]) -> Record | Reject:
    assert len(items) == 1, items
    return items[0]


def check_rejects(items: list[Record | Reject]) -> None:
    """What every reader promises about rejects."""
    for item in items:
        if isinstance(item, Reject):
            assert item.reason in DEAD_LETTER_REASONS
            assert item.error and "\n" not in item.error
            item.raw.encode("utf-8")  # writable as it is


# --- JSON Lines -----------------------------------------------------------------------------


def test_the_generator_format_reads_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "generated.jsonl"
    count = write_jsonl(generate(customers=5, days=2, seed=3), path)
    items = list(read_log(path))
    assert len(items) == count > 0
    assert all(isinstance(item, Record) for item in items)
    assert [item.position for item in items] == list(range(count))
    assert items[0].origin == "generated.jsonl:1"
    kinds = {type(item.event) for item in items if isinstance(item, Record)}
    assert kinds == {BehaviourEvent, ProfileUpdate}


def test_jsonl_records_are_ordinary_frozen_records(tmp_path: Path) -> None:
    item = only(list(read_log(lines(tmp_path, dumps(EVENT, _topic="behaviour")))))
    assert item == Record(0, "log.jsonl:1", BehaviourEvent.model_validate(EVENT))
    assert hash(item) == hash(Record(0, "log.jsonl:1", item.event))
    with pytest.raises(AttributeError):
        item.position = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (dumps(EVENT, _topic="behaviour"), BehaviourEvent),
        (dumps(PROFILE, _topic="profile"), ProfileUpdate),
        (dumps(PROFILE, _topic="profiles"), ProfileUpdate),
        (dumps(ERASURE, _topic="erasure"), ErasureRequest),
        (dumps(EVENT), BehaviourEvent),  # no _topic: inferred
        (dumps(PROFILE), ProfileUpdate),
        (dumps(ERASURE), ErasureRequest),
        (json.dumps({**EVENT, "_topic": "behaviour"}), BehaviourEvent),  # _topic not first
        (json.dumps({"_topic": "profile", **PROFILE}, indent=None, separators=(",", ":")), None),
    ],
)
def test_jsonl_lines_with_and_without_topic(tmp_path: Path, line: str, kind: type | None) -> None:
    item = only(list(read_log(lines(tmp_path, line))))
    assert isinstance(item, Record)
    assert isinstance(item.event, kind or ProfileUpdate)
    assert item.event.customer_id == "c1"
    assert (item.position, item.origin) == (0, "log.jsonl:1")


@pytest.mark.parametrize(
    ("line", "reason", "error"),
    [
        ("not json", "undecodable", ""),
        ("[1, 2]", "undecodable", "one JSON object"),
        ('{"_topic": "behaviour", "event_id": "e', "undecodable", ""),  # cut short
        (b'{"_topic": "behaviour", "event_id": "\xff"}', "undecodable", ""),
        (dumps({**EVENT, "type": "teleport"}, _topic="behaviour"), "unknown_event_type", "type"),
        (dumps({**EVENT, "type": "teleport"}), "unknown_event_type", "teleport"),
        (dumps({**EVENT, "amount": -1}, _topic="behaviour"), "invalid", "amount"),
        (dumps({**EVENT, "colour": "red"}, _topic="behaviour"), "invalid", "colour"),
        # JSON Lines follow the contract as the topics do: a naive time is refused.
        (dumps({**EVENT, "timestamp": "2026-01-01T00:00:00"}), "invalid", "UTC offset"),
        (dumps(EVENT, _topic="nope"), "invalid", "_topic"),
        (dumps(PROFILE, _topic="behaviour"), "invalid", "event_id"),
    ],
)
def test_jsonl_rejects_say_why(tmp_path: Path, line: str | bytes, reason: str, error: str) -> None:
    path = lines(tmp_path, dumps(EVENT, _topic="behaviour"), "", "   ", line)
    items = list(read_log(path))
    check_rejects(items)
    assert isinstance(items[0], Record)
    reject = items[1]
    assert isinstance(reject, Reject)
    # Blank lines are not rows, but line numbers still count them.
    assert (reject.position, reject.origin, reject.reason) == (1, "log.jsonl:4", reason)
    assert error in reject.error
    assert reject.raw.strip() and "\n" not in reject.raw


def test_extra_event_types_are_admitted(tmp_path: Path) -> None:
    path = lines(tmp_path, dumps({**EVENT, "type": "wishlist_add"}, _topic="behaviour"))
    assert isinstance(only(list(read_log(path))), Reject)
    item = only(list(read_log(path, extra_event_types=["wishlist_add"])))
    assert isinstance(item, Record) and item.event.type == "wishlist_add"  # type: ignore[union-attr]


def test_jsonl_keys_and_types_can_be_mapped(tmp_path: Path) -> None:
    raw = {**EVENT, "type": "buy", "user": "c9"}
    del raw["customer_id"]
    path = lines(tmp_path, dumps(raw, _topic="behaviour"), dumps({**raw, "type": "view"}))
    mapping = ColumnMap.parse(["customer_id=user"], ["buy=purchase", "view=page_view"])
    items = list(read_log(path, mapping.columns, mapping.types))
    events = [item.event for item in items if isinstance(item, Record)]
    assert [(e.customer_id, e.type) for e in events] == [  # type: ignore[union-attr]
        ("c9", "purchase"),
        ("c9", "page_view"),
    ]


@pytest.mark.parametrize("name", ["log.jsonl.gz", "log.ndjson", "log.json", "LOG.JSONL"])
def test_jsonl_names_and_gzip(tmp_path: Path, name: str) -> None:
    item = only(list(read_log(lines(tmp_path, dumps(EVENT, _topic="behaviour"), name=name))))
    assert isinstance(item, Record) and item.origin == f"{name}:1"


# --- CSV ------------------------------------------------------------------------------------

MAPPED_CSV = """
user,ts,event,value,cat,note
c1,2026-01-01T00:00:00Z,view,,shoes,ignored
c2,2026-01-01 00:00:01,buy,12.50,,
"""
MAPPING = ColumnMap.parse(
    ["customer_id=user", "timestamp=ts", "type=event", "amount=value", "category=cat"],
    ["view=page_view", "buy=purchase"],
)


def test_csv_columns_and_types_are_mapped(tmp_path: Path) -> None:
    items = list(read_log(csv_file(tmp_path, MAPPED_CSV), MAPPING.columns, MAPPING.types))
    first, second = (item.event for item in items if isinstance(item, Record))
    assert isinstance(first, BehaviourEvent) and isinstance(second, BehaviourEvent)
    assert (first.customer_id, first.type, first.timestamp) == ("c1", "page_view", T0)
    assert first.amount is None  # an empty cell is missing, not zero
    assert first.properties is not None and first.properties.category == "shoes"
    assert (second.type, second.amount, second.properties) == ("purchase", 12.5, None)
    assert second.timestamp == T0 + timedelta(seconds=1)
    assert [item.origin for item in items] == ["events.csv:2", "events.csv:3"]


def test_csv_default_event_ids_are_derived_from_the_origin_and_stable(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MAPPED_CSV)
    ids = [
        [item.event.event_id for item in read_log(path, MAPPING.columns, MAPPING.types)]  # type: ignore[union-attr]
        for _ in range(2)
    ]
    assert ids[0] == ids[1]
    assert ids[0] == [derived_event_id("events.csv:2"), derived_event_id("events.csv:3")]
    assert len(set(ids[0])) == 2


def test_derived_event_ids_do_not_change_between_versions() -> None:
    # A replay of the same file next release must dedup and name changes the same way.
    assert derived_event_id("events.csv:2") == "row-53e865d03dcc0c3c67b70ef0"


def test_csv_in_the_schema_names_needs_no_mapping(tmp_path: Path) -> None:
    text = """
event_id,customer_id,type,timestamp,amount,currency,channel,product_id
e1,c1,purchase,1767225600000,5,EUR,web,p-9
"""
    item = only(list(read_log(csv_file(tmp_path, text, name="events.csv.gz"))))
    assert isinstance(item, Record) and isinstance(item.event, BehaviourEvent)
    assert item.event == BehaviourEvent.model_validate(
        {**EVENT, "amount": 5, "properties": {"channel": "web", "product_id": "p-9"}}
    )
    assert item.origin == "events.csv.gz:2"


def test_csv_cells_are_trimmed_and_blank_ones_missing(tmp_path: Path) -> None:
    text = "customer_id,timestamp,type,amount,channel\n c1 , 2026-01-01 ,page_view,  ,web "
    item = only(list(read_log(csv_file(tmp_path, text))))
    assert isinstance(item, Record) and isinstance(item.event, BehaviourEvent)
    assert (item.event.customer_id, item.event.timestamp, item.event.amount) == ("c1", T0, None)
    assert item.event.properties is not None and item.event.properties.channel == "web"


def test_csv_profile_updates_and_erasures(tmp_path: Path) -> None:
    text = """
customer_id,timestamp,type,city,age,request_id
c1,2026-01-01,profile_update,Berlin,41,
c1,2026-01-02,erasure_request,,,r-7
c2,2026-01-02,forget,,,
"""
    mapping = ColumnMap.parse(type_maps=["forget=erasure_request"])
    items = list(read_log(csv_file(tmp_path, text), types=mapping.types))
    events = [item.event for item in items if isinstance(item, Record)]
    assert events[0] == ProfileUpdate(
        customer_id="c1", timestamp=T0, attributes={"city": "Berlin", "age": 41}
    )
    assert events[1] == ErasureRequest(
        customer_id="c1", timestamp=T0 + timedelta(days=1), request_id="r-7"
    )
    assert isinstance(events[2], ErasureRequest)
    assert events[2].request_id == derived_event_id("events.csv:4")


@pytest.mark.parametrize(
    ("row", "reason", "error"),
    [
        ("c1,yesterday,purchase,5", "invalid", "timestamp: 'yesterday' is not a time"),
        (",2026-01-01,purchase,5", "invalid", "customer_id"),
        ("c1,,purchase,5", "invalid", "timestamp"),
        ("c1,2026-01-01,,5", "invalid", "type: missing"),
        ("c1,2026-01-01,teleport,5", "unknown_event_type", "teleport"),
        ("c1,2026-01-01,purchase,-5", "invalid", "amount"),
        ("c1,2026-01-01,purchase,five", "invalid", "amount"),
        ("c1,2026-01-01,purchase", "undecodable", "row has 3 cells, the header has 4"),
        ("c1,2026-01-01,purchase,5,6", "undecodable", "row has 5 cells"),
        (b"c\xff,2026-01-01,purchase,5", "undecodable", "not UTF-8"),
    ],
)
def test_csv_rejects_say_why_and_where(
    tmp_path: Path, row: str | bytes, reason: str, error: str
) -> None:
    head = b"customer_id,timestamp,type,amount\nc1,2026-01-01,purchase,5\n\n"
    path = tmp_path / "events.csv"
    path.write_bytes(head + (row if isinstance(row, bytes) else row.encode()) + b"\n")
    items = list(read_log(path))
    check_rejects(items)
    assert isinstance(items[0], Record)
    reject = items[1]
    assert isinstance(reject, Reject)
    assert (reject.position, reject.origin, reject.reason) == (1, "events.csv:4", reason)
    assert error in reject.error
    assert reject.raw.startswith(("{", "["))  # the row as JSON: header -> cell


# --- times ----------------------------------------------------------------------------------

TIMES: list[tuple[object, datetime]] = [
    ("2026-01-01T00:00:00Z", T0),
    ("2026-01-01T01:00:00+01:00", T0),
    ("2026-01-01T00:00:00.250+00:00", T0 + timedelta(milliseconds=250)),
    ("2026-01-01T00:00:00", T0),  # naive: UTC
    ("2026-01-01 00:00:00", T0),
    ("2026-01-01", T0),
    ("20260101", T0),
    ("20260101T000000Z", T0),
    ("1767225600", T0),  # epoch seconds
    ("1767225600000", T0),  # epoch milliseconds
    ("1767225600.5", T0 + timedelta(milliseconds=500)),
    ("1767225600000000", T0),  # epoch microseconds
    (" 1767225600 ", T0),
    (1767225600, T0),
    (1767225600000, T0),
    (1767225600000000000, T0),  # epoch nanoseconds
    (20260101, T0),
    (1767225600.25, T0 + timedelta(milliseconds=250)),
    (datetime(2026, 1, 1), T0),
    (datetime(2026, 1, 1, 1, tzinfo=UTC) - timedelta(hours=1), T0),
    (date(2026, 1, 1), T0),
]


@pytest.mark.parametrize(("value", "expected"), TIMES)
def test_parse_time_reads_common_formats(value: object, expected: datetime) -> None:
    moment = parse_time(value)  # type: ignore[arg-type]
    assert moment == expected
    assert moment.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("yesterday", "is not a time"),
        ("", "is not a time"),
        ("2026-13-01", "is not a time"),
        (True, "boolean"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (10**30, "out of range"),
        (None, "cannot read a time"),
    ],
)
def test_parse_time_refuses_with_one_line(value: object, error: str) -> None:
    with pytest.raises(ValueError, match=error) as caught:
        parse_time(value)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", [value for value, _ in TIMES if isinstance(value, str)])
def test_every_time_format_reads_from_csv(tmp_path: Path, text: str) -> None:
    path = csv_file(tmp_path, f'customer_id,timestamp,type\nc1,"{text}",page_view')
    item = only(list(read_log(path)))
    assert isinstance(item, Record) and item.event.timestamp == parse_time(text)


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))


@given(moments)
def test_parse_time_round_trips(moment: datetime) -> None:
    epoch_ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert parse_time(moment.isoformat()) == moment
    assert parse_time(moment.isoformat().replace("+00:00", "Z")) == moment
    assert parse_time(moment.replace(tzinfo=None).isoformat(sep=" ")) == moment
    assert parse_time(epoch_ms) == moment
    assert parse_time(str(epoch_ms)) == moment
    assert parse_time(epoch_ms // 1000) == moment.replace(microsecond=0)
    assert parse_time(moment.strftime("%Y%m%d")) == moment.replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    assert parse_range_time(moment.isoformat()) == epoch_ms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", 1_767_225_600_000),
        ("2026-01-01T01:00:00+01:00", 1_767_225_600_000),
        ("2026-01-01", 1_767_225_600_000),  # naive: UTC
        ("1767225600123", 1_767_225_600_123),
        (" 1767225600123 ", 1_767_225_600_123),
    ],
)
def test_parse_range_time(text: str, expected: int) -> None:
    assert parse_range_time(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "-5", "1.5e12"])
def test_parse_range_time_refuses_with_one_line(text: str) -> None:
    with pytest.raises(SourceError, match="expected ISO-8601") as caught:
        parse_range_time(text)
    assert "\n" not in str(caught.value)


# --- Parquet --------------------------------------------------------------------------------


def parquet_file(tmp_path: Path, table: pa.Table, name: str = "events.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_parquet_with_mapping_and_native_types(tmp_path: Path) -> None:
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
    items = list(read_log(parquet_file(tmp_path, table), mapping.columns, mapping.types))
    check_rejects(items)
    first, second, third = items
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "_BATCH_ROWS", 7)
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
    items = list(read_log(parquet_file(tmp_path, table)))
    assert [item.position for item in items] == list(range(count))
    assert [item.event.customer_id for item in items] == [f"c{i}" for i in range(count)]  # type: ignore[union-attr]
    assert items[-1].event.timestamp == T0 + timedelta(seconds=count - 1)  # type: ignore[union-attr]


# --- one-line errors, raised by read_log itself -----------------------------------------------


def make_csv(tmp_path: Path) -> Path:
    return csv_file(tmp_path, "customer_id,timestamp,type\nc1,2026-01-01,page_view")


LOG_ERRORS: list[tuple[Callable[[Path], Path], dict[str, Any], str]] = [
    (lambda p: p / "missing.jsonl", {}, "missing.jsonl: no such file"),
    (lambda p: p / "missing.csv", {}, "missing.csv: no such file"),
    (lambda p: p / "missing.parquet", {}, "missing.parquet: no such file"),
    (lambda p: lines(p, "{}", name="log.txt"), {}, "unknown log format"),
    (lambda p: lines(p, "{}", name="log.parquet.gz"), {}, "unknown log format"),
    (lambda p: lines(p, "not parquet", name="log.parquet"), {}, "not a readable Parquet file"),
    (lambda p: csv_file(p, ""), {}, "empty file"),
    (make_csv, {"columns": {"customer_id": "user"}}, "column 'user' (mapped to customer_id)"),
    (
        lambda p: csv_file(p, "customer_id,timestamp\nc1,2026-01-01"),
        {},
        "no column for type (columns: customer_id, timestamp); map one with --map type=COLUMN",
    ),
    (make_csv, {"types": {"view": "pageview"}}, "view=pageview: 'pageview' is not a known"),
]


@pytest.mark.parametrize(("make", "options", "error"), LOG_ERRORS)
def test_whole_file_problems_raise_one_line_at_once(
    tmp_path: Path, make: Callable[[Path], Path], options: dict[str, Any], error: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(SourceError) as caught:
        read_log(path, **options)  # not iterated: the error must come from the call
    assert error in str(caught.value)
    assert "\n" not in str(caught.value)


# --- mappings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maps", "type_maps", "error"),
    [
        (["customer_id"], [], "--map 'customer_id': expected FIELD=COLUMN"),
        (["customer_id="], [], "--map 'customer_id=': expected FIELD=COLUMN"),
        (["=user"], [], "--map '=user': expected FIELD=COLUMN"),
        (["colour=c"], [], "--map 'colour=c': unknown field 'colour'"),
        (["properties.=c"], [], "unknown field 'properties.'"),
        (["customer_id=a", "customer_id=b"], [], "customer_id is mapped twice"),
        ([], ["view"], "--type-map 'view': expected FILE_TYPE=EVENT_TYPE"),
        ([], ["view=a", "view=b"], "view is mapped twice"),
    ],
)
def test_bad_map_items_are_named(maps: list[str], type_maps: list[str], error: str) -> None:
    with pytest.raises(SourceError) as caught:
        ColumnMap.parse(maps, type_maps)
    assert error in str(caught.value)
    assert "\n" not in str(caught.value)


def test_map_fields_take_bare_and_dotted_names() -> None:
    mapping = ColumnMap.parse(
        ["customer_id = user", "age=years", "properties.colour=colour", "attributes.tier=t"]
    )
    assert mapping.columns == {
        "customer_id": "user",
        "attributes.age": "years",
        "properties.colour": "colour",
        "attributes.tier": "t",
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("map.toml", 'columns = {customer_id = "user", category = "cat"}\ntypes = {view = "x"}'),
        (
            "map.json",
            '{"columns": {"customer_id": "user", "category": "cat"}, "types": {"view": "x"}}',
        ),
    ],
)
def test_mapping_files_and_flags_over_them(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    mapping = ColumnMap.parse(["customer_id=uid"], ["view=page_view"], file=path)
    assert mapping.columns == {"customer_id": "uid", "properties.category": "cat"}
    assert mapping.types == {"view": "page_view"}


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("map.toml", "columns = {", "map.toml: "),
        ("map.json", "{", "map.json: "),
        ("map.yaml", "columns: {}", "expected a .toml or .json file"),
        ("map.toml", "colums = {}", "unknown key 'colums'"),
        ("map.toml", "columns = {customer_id = 3}", "columns must be a table of names"),
        ("map.json", "[]", "expected a table"),
        ("map.toml", 'columns = {colour = "c"}', "columns 'colour=c': unknown field 'colour'"),
        ("absent.toml", None, "absent.toml: No such file"),
    ],
)
def test_bad_mapping_files_are_named(
    tmp_path: Path, name: str, text: str | None, error: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(SourceError) as caught:
        ColumnMap.parse(file=path)
    message = str(caught.value)
    assert message.startswith(f"mapping file {path}")
    assert error in message and "\n" not in message
