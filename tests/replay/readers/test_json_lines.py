"""JSON Lines: the contracts as the topics have them, ``_topic`` or not; rejects say why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from replay.sources import ColumnMap, Record, Reject
from schemas.events import BehaviourEvent, ErasureRequest, ProfileUpdate

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
WriteLog = Callable[..., Path]
ReadRows = Callable[..., list[Record | Reject]]


def dumps(value: dict[str, Any], **extra: Any) -> str:
    return json.dumps({**extra, **value})


def test_jsonl_records_are_ordinary_frozen_records(
    write_log: WriteLog, read_rows: ReadRows
) -> None:
    (item,) = read_rows(write_log("log.jsonl", dumps(EVENT, _topic="behaviour")))
    assert item == Record(0, "log.jsonl:1", BehaviourEvent.model_validate(EVENT))
    assert isinstance(item, Record)
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
def test_jsonl_lines_with_and_without_topic(
    write_log: WriteLog, read_rows: ReadRows, line: str, kind: type | None
) -> None:
    (item,) = read_rows(write_log("log.jsonl", line))
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
def test_jsonl_rejects_say_why(
    write_log: WriteLog, read_rows: ReadRows, line: str | bytes, reason: str, error: str
) -> None:
    path = write_log("log.jsonl", dumps(EVENT, _topic="behaviour"), "", "   ", line)
    items = read_rows(path)
    assert isinstance(items[0], Record)
    reject = items[1]
    assert isinstance(reject, Reject)
    # Blank lines are not rows, but line numbers still count them.
    assert (reject.position, reject.origin, reject.reason) == (1, "log.jsonl:4", reason)
    assert error in reject.error
    assert reject.raw.strip() and "\n" not in reject.raw


def test_extra_event_types_are_admitted(write_log: WriteLog, read_rows: ReadRows) -> None:
    path = write_log("log.jsonl", dumps({**EVENT, "type": "wishlist_add"}, _topic="behaviour"))
    (item,) = read_rows(path)
    assert isinstance(item, Reject)
    (item,) = read_rows(path, extra_event_types=["wishlist_add"])
    assert isinstance(item, Record) and item.event.type == "wishlist_add"  # type: ignore[union-attr]


def test_jsonl_keys_and_types_can_be_mapped(write_log: WriteLog, read_rows: ReadRows) -> None:
    raw = {**EVENT, "type": "buy", "user": "c9"}
    del raw["customer_id"]
    path = write_log("log.jsonl", dumps(raw, _topic="behaviour"), dumps({**raw, "type": "view"}))
    mapping = ColumnMap.parse(["customer_id=user"], ["buy=purchase", "view=page_view"])
    items = read_rows(path, columns=mapping.columns, types=mapping.types)
    events = [item.event for item in items if isinstance(item, Record)]
    assert [(e.customer_id, e.type) for e in events] == [  # type: ignore[union-attr]
        ("c9", "purchase"),
        ("c9", "page_view"),
    ]


@pytest.mark.parametrize("name", ["log.jsonl.gz", "log.ndjson", "log.json", "LOG.JSONL"])
def test_jsonl_names_and_gzip(write_log: WriteLog, read_rows: ReadRows, name: str) -> None:
    (item,) = read_rows(write_log(name, dumps(EVENT, _topic="behaviour")))
    assert isinstance(item, Record) and item.origin == f"{name}:1"
