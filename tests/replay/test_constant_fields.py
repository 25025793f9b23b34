"""Constant fields (``--set FIELD=VALUE``, a mapping file's ``constants``): an export
without an event-type column replays as if a column held the value in every row.

A set value reads as that column would, in every format; a value is refused at the
start, in one line naming the field, exactly when the contract refuses the column; a
field comes from the file or is set, never both; rows without ids get ids from their
place in the file, so an export replays the same every time.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from cli.main import main
from replay.sources import ColumnMap, Record, Reject, SourceError, read_log
from schemas.events import BehaviourEvent, ProfileUpdate

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = ["cust", "date", "dollars", "quantity"]
MAPS = ["customer_id=cust", "timestamp=date", "amount=dollars"]
PURCHASES = [  # the issue's export: customer, date, amount, quantity; no type, no ids
    ["c1", "2024-01-05", "19.99", "1"],
    ["c2", "2024-01-06", "5.00", "3"],
    ["c1", "2024-01-09", "42.50", "2"],
]
TRANSACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", "a customer"]),
        st.sampled_from(["2024-01-05", "2024-01-05 10:30:00", "20240106", "1704499200"]),
        st.decimals(0, 10_000, places=2).map(str),
        st.integers(1, 9).map(str),
    ).map(list),
    min_size=1,
    max_size=12,
)
# Behaviour fields a transactions table may lack, with values the contract takes or not.
CONSTANTS = {
    "type": st.sampled_from(["purchase", "refund", "page_view", "buy", "purchse", "Purchase"]),
    "currency": st.sampled_from(["USD", "EUR", "usd", "US"]) | st.text(max_size=4),
    "channel": st.sampled_from(["web", "store", "x" * 65]) | st.text(max_size=8),
    "country": st.sampled_from(["US", "FR"]),  # an attribute: no purchase row takes it
}
CELL = st.characters(blacklist_categories=("Cs", "Cc"))  # what a CSV cell holds as it is


@contextmanager
def folder() -> Iterator[Path]:
    """A fresh folder for one example (hypothesis runs many in one test)."""
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """``rows`` under ``header``, as CSV or Parquet (every column text) by the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(pa.table({n: [r[i] for r in rows] for i, n in enumerate(header)}), path)
    else:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([header, *rows])
        path.write_text(text.getvalue())
    return path


def with_columns(
    header: list[str], rows: list[list[str]], values: dict[str, str]
) -> tuple[list[str], list[list[str]]]:
    """The table with a column per field of ``values``, holding its value in every row."""
    return [*header, *values], [[*row, *values.values()] for row in rows]


def read(path: Path, mapping: ColumnMap) -> list[Record | Reject]:
    return list(read_log(path, mapping.columns, mapping.types, constants=mapping.constants))


def replay(log: Path, out: Path, *extra: str) -> int:
    """The issue's command: ``segment-engine replay purchases.csv --out DIR --map ...``."""
    maps = [arg for item in MAPS for arg in ("--map", item)]
    return main(["replay", str(log), "--out", str(out), *maps, "--no-progress", *extra])


@PROPERTY
@given(rows=TRANSACTIONS, suffix=st.sampled_from([".csv", ".parquet"]), data=st.data())
def test_a_set_field_reads_as_a_column_holding_it_in_every_row(
    rows: list[list[str]], suffix: str, data: st.DataObject
) -> None:
    more = data.draw(st.lists(st.sampled_from(["currency", "channel", "country"]), unique=True))
    values = {field: data.draw(CONSTANTS[field]) for field in ["type", *more]}
    assume(all(value and value.strip() == value for value in values.values()))  # a full cell
    with folder() as root:
        bare = write_table(root / "set" / f"purchases{suffix}", HEADER, rows)
        full = write_table(
            root / "column" / f"purchases{suffix}", *with_columns(HEADER, rows, values)
        )
        from_column = read(full, ColumnMap.parse(MAPS, ["buy=purchase"]))
        sets = [f"{field}={value}" for field, value in values.items()]
        try:
            from_set = read(bare, ColumnMap.parse(MAPS, ["buy=purchase"], sets=sets))
        except SourceError as exc:  # refused at the start: the column spoils every row
            event("refused")
            assert "\n" not in str(exc) and str(exc).startswith("set field ")
            assert all(isinstance(item, Reject) for item in from_column)
            return
    event("read")
    assert from_set == from_column  # the same events, ids, origins and positions
    assert all(isinstance(item, Record) for item in from_set)


@PROPERTY
@given(
    field=st.sampled_from(["amount", "customer_id", "currency", "timestamp"]),
    value=st.text(CELL, min_size=1, max_size=12).filter(lambda v: v.strip() == v)
    | st.sampled_from(["0", "12.50", "-1", "1e400", "nan", "2024-01-05", "1704499200", "x" * 257]),
)
def test_a_set_value_is_refused_exactly_when_the_contract_refuses_it(
    field: str, value: str
) -> None:
    cells = {"cust": "c1", "date": "2024-01-05", "dollars": "1.5"}
    column = {"amount": "dollars", "customer_id": "cust", "timestamp": "date"}.get(field)
    header = [name for name in cells if name != column]
    maps = [item for item in MAPS if item.split("=")[1] in header]
    with folder() as root:
        bare = write_table(root / "set" / "t.csv", header, [[cells[h] for h in header]])
        full = write_table(
            root / "column" / "t.csv", [*header, field], [[*(cells[h] for h in header), value]]
        )
        (from_column,) = read(full, ColumnMap.parse(maps, sets=["type=purchase"]))
        try:
            (from_set,) = read(
                bare, ColumnMap.parse(maps, sets=["type=purchase", f"{field}={value}"])
            )
        except SourceError as exc:
            event("refused")
            assert isinstance(from_column, Reject), (value, from_column)
            assert str(exc).startswith(f"set field {field}=") and "\n" not in str(exc)
            assert from_column.error.startswith(f"{field}:")  # the same field to blame
            return
    event("read")
    assert from_set == from_column


def test_a_profile_export_sets_its_type_and_time(tmp_path: Path) -> None:
    crm = write_table(tmp_path / "crm.csv", ["customer", "age", "country"], [["c1", "41", "FR"]])
    sets = ["type=profile_update", "timestamp=20240101", "currency=USD", "region=Paris"]
    (item,) = read(crm, ColumnMap.parse(["customer_id=customer"], sets=sets))
    assert isinstance(item, Record) and isinstance(item.event, ProfileUpdate)
    assert item.event.timestamp == datetime(2024, 1, 1, tzinfo=UTC)
    # Attributes go to profile updates, currency to behaviour events only.
    assert item.event.changed() == {"age": 41, "country": "FR", "region": "Paris"}


def test_json_lines_get_the_set_fields_their_contract_has(tmp_path: Path) -> None:
    lines = [
        {"event_id": "e1", "customer_id": "c1", "timestamp": "2024-01-05T00:00:00Z", "amount": 3},
        {
            "event_id": "e2",
            "customer_id": "c1",
            "timestamp": "2024-01-06T00:00:00Z",
            "currency": "EUR",
        },
        {"customer_id": "c1", "timestamp": "2024-01-07T00:00:00Z", "attributes": {"age": 41}},
    ]
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    sets = ["type=purchase", "currency=USD", "channel=web", "country=FR"]
    first, second, third = read(log, ColumnMap.parse(sets=sets))
    assert isinstance(first, Record) and isinstance(first.event, BehaviourEvent)
    assert (first.event.type, first.event.currency) == ("purchase", "USD")
    assert first.event.properties is not None and first.event.properties.channel == "web"
    assert isinstance(second, Reject)  # its own currency, and one set: which one is meant?
    assert (second.reason, second.error) == (
        "invalid",
        "currency: the line has one, and it is also set",
    )
    assert isinstance(third, Record) and isinstance(third.event, ProfileUpdate)
    assert third.event.changed() == {"age": 41, "country": "FR"}


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (
            ["--set", "type=purchse"],
            "set field type='purchse': 'purchse' is not a known event type",
        ),
        (
            ["--set", "type=purchase", "--set", "currency=usd"],
            "set field currency='usd': currency: ",
        ),
        (
            ["--set", "type=purchase", "--set", "colour=red"],
            "--set 'colour=red': unknown field 'colour'",
        ),
        (["--set", "type=purchase", "--set", "type=refund"], "type is set twice"),
        (["--set", "type"], "--set 'type': expected FIELD=VALUE"),
        (["--set", "type="], "--set 'type=': expected FIELD=VALUE"),
        (
            ["--set", "type=purchase", "--set", "amount=3"],
            "amount is both mapped (to column 'dollars') and set (to '3')",
        ),
        (["--set", "type=purchase", "--set", "event_id=x"], "event_id cannot be set"),
        (["--set", "type=purchase", "--set", "quantity=2"], "unknown field 'quantity'"),
        (["--set", "type=purchase", "--set", "age=old"], "set field attributes.age='old'"),
        (["--set", "type=purchase", "--map-file", "MAP"], "constants 'quantity=2': unknown field"),
    ],
)
def test_bad_constants_end_the_replay_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], said: str
) -> None:
    log = write_table(tmp_path / "purchases.csv", HEADER, PURCHASES)
    (tmp_path / "map.toml").write_text('constants = {quantity = "2"}')
    extra = [str(tmp_path / "map.toml") if arg == "MAP" else arg for arg in extra]
    assert replay(log, tmp_path / "out", *extra) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert said in line
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_a_column_named_like_a_set_field_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header, rows = with_columns(HEADER, PURCHASES, {"type": "purchase"})
    log = write_table(tmp_path / "purchases.csv", header, rows)
    assert replay(log, tmp_path / "out", "--set", "type=refund") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"segment-engine: {log}: type is both in the file (column 'type') and set "
        "(to 'refund'): drop the --set to read the column"
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "map.toml",
            'columns = {customer_id = "cust"}\nconstants = {type = "purchase", amount = 0}',
        ),
        (
            "map.json",
            '{"columns": {"customer_id": "cust"}, "constants": {"type": "purchase", "amount": 0}}',
        ),
    ],
)
def test_mapping_files_set_fields_and_flags_win_over_them(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert ColumnMap.parse(file=path).constants == {"type": "purchase", "amount": "0"}
    mapping = ColumnMap.parse(["timestamp=date"], file=path, sets=["type=refund", "channel=web"])
    assert mapping.constants == {"type": "refund", "amount": "0", "properties.channel": "web"}
    assert mapping.columns == {"customer_id": "cust", "timestamp": "date"}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("constants = {currency = true}", "constants must be a table of fields to text or numbers"),
        ("constants = []", "constants must be a table"),
        ('constants = {colour = "red"}', "constants 'colour=red': unknown field 'colour'"),
        ('constants = {event_id = "x"}', "event_id cannot be set"),
        (
            'columns = {currency = "cur"}\nconstants = {currency = "USD"}',
            "currency is both mapped (to column 'cur') and set (to 'USD')",
        ),
        (
            'constant = {type = "purchase"}',
            "unknown key 'constant' (expected columns, types, constants)",
        ),
    ],
)
def test_bad_constants_in_a_mapping_file_are_named(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "map.toml"
    path.write_text(text)
    with pytest.raises(SourceError) as caught:
        ColumnMap.parse(file=path)
    message = str(caught.value)
    assert message.startswith(f"mapping file {path}: ") and said in message and "\n" not in message


def test_the_issue_command_replays_as_the_same_export_with_a_type_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_table(tmp_path / "export" / "purchases.csv", HEADER, PURCHASES)
    typed = write_table(
        tmp_path / "typed" / "purchases.csv", *with_columns(HEADER, PURCHASES, {"type": "purchase"})
    )
    runs = tmp_path / "runs"
    assert replay(export, runs / "refused") == 2  # as the issue found it, now with the way out
    assert "no column for type" in capsys.readouterr().err
    assert replay(export, runs / "p", "--set", "type=purchase") == 0
    assert replay(export, runs / "again", "--set", "type=purchase") == 0
    assert replay(typed, runs / "typed") == 0
    names = sorted(path.name for path in (runs / "p").iterdir())
    assert "segment_changes.jsonl" in names and "report.html" in names
    for other in ("again", "typed"):  # no event ids, yet the same run, byte for byte
        for name in names:
            assert (runs / other / name).read_bytes() == (runs / "p" / name).read_bytes(), name
    summary = json.loads((runs / "p" / "summary.json").read_text())
    assert (summary["events_accepted"], summary["customers"]) == (len(PURCHASES), 2)
    with (runs / "p" / "assignments.csv").open() as f:
        spend = {row["customer_id"]: float(row["total_spend"]) for row in csv.DictReader(f)}
    assert spend == pytest.approx({"c1": 19.99 + 42.50, "c2": 5.00})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_equal_rows_without_ids_are_distinct_events_even_with_nothing_read(
    tmp_path: Path, suffix: str
) -> None:
    log = write_table(tmp_path / f"visits{suffix}", ["note"], [["x"], ["x"], ["x"]])
    sets = ["customer_id=c1", "timestamp=2024-01-05", "type=page_view"]
    events = [
        item.event for item in read(log, ColumnMap.parse(sets=sets)) if isinstance(item, Record)
    ]
    assert all(isinstance(e, BehaviourEvent) and e.type == "page_view" for e in events)
    assert len({e.event_id for e in events if isinstance(e, BehaviourEvent)}) == 3  # one a row
    again = [
        item.event for item in read(log, ColumnMap.parse(sets=sets)) if isinstance(item, Record)
    ]
    assert again == events  # the ids come from each row's place in the file
