"""CSV: mapped or schema-named columns, trimmed cells, derived ids; rejects say why and where."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from replay.sources import ColumnMap, Record, Reject, derived_event_id
from schemas.events import BehaviourEvent, ErasureRequest, ProfileUpdate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MAPPED_CSV = """
user,ts,event,value,cat,note
c1,2026-01-01T00:00:00Z,view,,shoes,ignored
c2,2026-01-01 00:00:01,buy,12.50,,
"""
MAPPING = ColumnMap.parse(
    ["customer_id=user", "timestamp=ts", "type=event", "amount=value", "category=cat"],
    ["view=page_view", "buy=purchase"],
)
WriteLog = Callable[..., Path]
ReadRows = Callable[..., list[Record | Reject]]


def test_csv_columns_and_types_are_mapped(write_log: WriteLog, read_rows: ReadRows) -> None:
    path = write_log("events.csv", MAPPED_CSV.strip())
    items = read_rows(path, columns=MAPPING.columns, types=MAPPING.types)
    first, second = (item.event for item in items if isinstance(item, Record))
    assert isinstance(first, BehaviourEvent) and isinstance(second, BehaviourEvent)
    assert (first.customer_id, first.type, first.timestamp) == ("c1", "page_view", T0)
    assert first.amount is None  # an empty cell is missing, not zero
    assert first.properties is not None and first.properties.category == "shoes"
    assert (second.type, second.amount, second.properties) == ("purchase", 12.5, None)
    assert second.timestamp == T0 + timedelta(seconds=1)
    assert [item.origin for item in items] == ["events.csv:2", "events.csv:3"]


def test_csv_default_event_ids_are_derived_from_the_origin_and_stable(
    write_log: WriteLog, read_rows: ReadRows
) -> None:
    path = write_log("events.csv", MAPPED_CSV.strip())
    runs = [read_rows(path, columns=MAPPING.columns, types=MAPPING.types) for _ in range(2)]
    ids = [[item.event.event_id for item in items] for items in runs]  # type: ignore[union-attr]
    assert ids[0] == ids[1]
    assert ids[0] == [derived_event_id("events.csv:2"), derived_event_id("events.csv:3")]
    assert len(set(ids[0])) == 2


def test_derived_event_ids_do_not_change_between_versions() -> None:
    # A replay of the same file next release must dedup and name changes the same way.
    assert derived_event_id("events.csv:2") == "row-53e865d03dcc0c3c67b70ef0"


def test_csv_in_the_schema_names_needs_no_mapping(write_log: WriteLog, read_rows: ReadRows) -> None:
    text = """
event_id,customer_id,type,timestamp,amount,currency,channel,product_id
e1,c1,purchase,1767225600000,5,EUR,web,p-9
"""
    (item,) = read_rows(write_log("events.csv.gz", text.strip()))
    assert isinstance(item, Record) and isinstance(item.event, BehaviourEvent)
    assert item.event == BehaviourEvent.model_validate(
        {
            "event_id": "e1",
            "customer_id": "c1",
            "type": "purchase",
            "timestamp": "2026-01-01T00:00:00+00:00",
            "amount": 5,
            "currency": "EUR",
            "properties": {"channel": "web", "product_id": "p-9"},
        }
    )
    assert item.origin == "events.csv.gz:2"


def test_csv_cells_are_trimmed_and_blank_ones_missing(
    write_log: WriteLog, read_rows: ReadRows
) -> None:
    text = "customer_id,timestamp,type,amount,channel\n c1 , 2026-01-01 ,page_view,  ,web "
    (item,) = read_rows(write_log("events.csv", text.strip()))
    assert isinstance(item, Record) and isinstance(item.event, BehaviourEvent)
    assert (item.event.customer_id, item.event.timestamp, item.event.amount) == ("c1", T0, None)
    assert item.event.properties is not None and item.event.properties.channel == "web"


def test_csv_profile_updates_and_erasures(write_log: WriteLog, read_rows: ReadRows) -> None:
    text = """
customer_id,timestamp,type,city,age,request_id
c1,2026-01-01,profile_update,Berlin,41,
c1,2026-01-02,erasure_request,,,r-7
c2,2026-01-02,forget,,,
"""
    mapping = ColumnMap.parse(type_maps=["forget=erasure_request"])
    items = read_rows(write_log("events.csv", text.strip()), types=mapping.types)
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
    write_log: WriteLog, read_rows: ReadRows, row: str | bytes, reason: str, error: str
) -> None:
    head = ("customer_id,timestamp,type,amount", "c1,2026-01-01,purchase,5", "")
    items = read_rows(write_log("events.csv", *head, row))
    assert isinstance(items[0], Record)
    reject = items[1]
    assert isinstance(reject, Reject)
    assert (reject.position, reject.origin, reject.reason) == (1, "events.csv:4", reason)
    assert error in reject.error
    assert reject.raw.startswith(("{", "["))  # the row as JSON: header -> cell
