"""Read a replay's input log (JSON Lines, CSV or Parquet) as records, in file order.

Every row becomes either a :class:`Record` (a validated input event) or a
:class:`Reject` (why it could not be read, with the dead-letter vocabulary): no row is
dropped silently. JSON Lines follow the input contracts exactly, as the live topics
do; CSV and Parquet rows are adapted by a :class:`ColumnMap` and read times in the
common formats that :func:`parse_time` understands.

Problems with the input as a whole (a missing file, a mapped column the header lacks)
raise :class:`SourceError` at once, from :func:`read_log` itself, with one line.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from schemas.dead_letters import DeadLetterReason
from schemas.decode import Rejected
from schemas.decode import rejection as rejection_of
from schemas.events import (
    EVENT_TYPES,
    BehaviourEvent,
    ErasureRequest,
    EventProperties,
    InputEvent,
    ProfileAttributes,
    ProfileUpdate,
)

PROFILE_TYPE = "profile_update"  # the `type` of a CSV/Parquet row that is a profile update
ERASURE_TYPE = "erasure_request"  # ... and of one that is an erasure request
REQUIRED = ("customer_id", "timestamp", "type")
TOP_FIELDS = ("event_id", "customer_id", "type", "timestamp", "amount", "currency", "request_id")
PROPERTY_FIELDS = tuple(f"properties.{name}" for name in EventProperties.model_fields)
ATTRIBUTE_FIELDS = tuple(f"attributes.{name}" for name in ProfileAttributes.model_fields)
KNOWN_FIELDS = TOP_FIELDS + PROPERTY_FIELDS + ATTRIBUTE_FIELDS
_TEXT_FIELDS = frozenset(KNOWN_FIELDS) - {"timestamp", "amount", "attributes.age"}
_EMPTY: Mapping[str, str] = MappingProxyType({})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")
_BATCH_ROWS = 8192  # Parquet rows turned into Python objects at a time


class SourceError(ValueError):
    """The input cannot be read at all; the message names the problem in one line."""


@dataclass(frozen=True, slots=True)
class Record:
    """One input event. ``position`` (0-based, over all rows) breaks event-time ties."""

    position: int
    origin: str  # "events.csv:13" (1-based line, or row for Parquet) or "topic:partition:offset"
    event: InputEvent


@dataclass(frozen=True, slots=True)
class Reject:
    """One row that could not be read, and why (``reason`` as in dead letters)."""

    position: int
    origin: str
    reason: DeadLetterReason
    error: str
    raw: str


# --- column and type mappings ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """How a file's names map onto the contracts.

    ``columns`` maps a contract field to the file's column (``customer_id -> user``);
    property and attribute fields are ``properties.NAME`` / ``attributes.NAME``, and
    their bare names (``category``, ``age``) are accepted too. ``types`` maps an event
    type as written in the file to the contract's (``view -> page_view``).

    >>> ColumnMap.parse(["customer_id=user", "category=cat"], ["view=page_view"]).columns
    {'customer_id': 'user', 'properties.category': 'cat'}
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        maps: Iterable[str] | None = (),
        type_maps: Iterable[str] | None = (),
        file: Path | None = None,
    ) -> ColumnMap:
        """From ``--map FIELD=COLUMN`` and ``--type-map FILE_TYPE=TYPE``, over a mapping file.

        ``None`` counts as none given (argparse's ``append`` default).
        """
        base = cls.load(file) if file is not None else cls()
        pairs = _split(maps or (), "--map", "FIELD=COLUMN")
        columns = {**base.columns, **_pairs(pairs, "--map", canonical_field)}
        pairs = _split(type_maps or (), "--type-map", "FILE_TYPE=EVENT_TYPE")
        types = {**base.types, **_pairs(pairs, "--type-map")}
        return cls(columns, types)

    @classmethod
    def load(cls, path: Path) -> ColumnMap:
        """A TOML or JSON mapping file: ``{columns = {...}, types = {...}}``."""
        where = f"mapping file {path}"
        data = _load_table(path, where)
        unknown = sorted(set(data) - {"columns", "types"})
        if unknown:
            raise SourceError(f"{where}: unknown key {unknown[0]!r} (expected columns, types)")
        tables = {}
        for key in ("columns", "types"):
            table = data.get(key, {})
            if not isinstance(table, dict) or not all(
                isinstance(v, str) and v for v in table.values()
            ):
                raise SourceError(f"{where}: {key} must be a table of names to names")
            tables[key] = list(table.items())
        columns = _pairs(tables["columns"], f"{where}: columns", canonical_field)
        return cls(columns, _pairs(tables["types"], f"{where}: types"))


def canonical_field(name: str) -> str:
    """``category`` -> ``properties.category``, ``age`` -> ``attributes.age``; else unchanged."""
    if f"properties.{name}" in PROPERTY_FIELDS:
        return f"properties.{name}"
    if f"attributes.{name}" in ATTRIBUTE_FIELDS:
        return f"attributes.{name}"
    return name


def _load_table(path: Path, where: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{where}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise SourceError(f"{where}: expected a .toml or .json file")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{where}: {exc}") from None
    if not isinstance(data, dict):
        raise SourceError(f"{where}: expected a table with columns and types")
    return data


def _split(items: Iterable[str], flag: str, shape: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        left, sep, right = item.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise SourceError(f"{flag} {item!r}: expected {shape}")
        pairs.append((left.strip(), right.strip()))
    return pairs


def _pairs(
    pairs: Iterable[tuple[str, str]], where: str, key: Callable[[str], str] | None = None
) -> dict[str, str]:
    out: dict[str, str] = {}
    for left, right in pairs:
        name = key(left) if key is not None else left
        if key is not None and not _known_field(name):
            raise SourceError(
                f"{where} '{left}={right}': unknown field {left!r} (expected one of "
                f"{', '.join(TOP_FIELDS)}, a property or attribute name, "
                "properties.NAME or attributes.NAME)"
            )
        if name in out:
            raise SourceError(f"{where} '{left}={right}': {left} is mapped twice")
        out[name] = right
    return out


def _known_field(name: str) -> bool:
    group, _, rest = name.partition(".")
    return name in KNOWN_FIELDS or (group in ("properties", "attributes") and bool(rest))


# --- times ----------------------------------------------------------------------------------


def parse_time(value: str | float | datetime | date) -> datetime:
    """Read a time in a common format; an aware UTC datetime. Naive times are UTC.

    ISO-8601 (``Z``, an offset, or none; a space instead of ``T``), ``YYYYMMDD``, and
    epoch numbers told apart by magnitude: seconds below 1e11, then milliseconds,
    microseconds, nanoseconds. An 8-digit number that is a valid date is read as
    ``YYYYMMDD`` (as epoch seconds it would be in 1970-73).

    >>> parse_time("2026-01-02T03:04:05+01:00").isoformat()
    '2026-01-02T02:04:05+00:00'
    >>> parse_time("2026-01-02 03:04:05").isoformat()
    '2026-01-02T03:04:05+00:00'
    >>> parse_time("20260102").isoformat()
    '2026-01-02T00:00:00+00:00'
    >>> parse_time(1767312245) == parse_time("1767312245000") == parse_time("2026-01-02T00:04:05Z")
    True
    """
    try:
        moment = _moment(value)
    except (OverflowError, OSError):
        raise ValueError("time is out of range") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _moment(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        return _from_number(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return _from_number(float(text) if "." in text else int(text))
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text[:40]!r} is not a time (ISO-8601, YYYY-MM-DD HH:MM:SS, YYYYMMDD, "
                "epoch seconds or milliseconds)"
            ) from None
    raise ValueError(f"cannot read a time from {type(value).__name__}")


def _from_number(number: float) -> datetime:
    if isinstance(number, float) and not abs(number) < float("inf"):
        raise ValueError("time is not a finite number")
    if isinstance(number, int) and 10_000_000 <= number <= 99_999_999:
        with contextlib.suppress(ValueError):
            return datetime.strptime(str(number), "%Y%m%d")
    size = abs(number)
    if size < 1e11:
        return _EPOCH + timedelta(seconds=number)
    if size < 1e14:
        return _EPOCH + timedelta(milliseconds=number)
    if size < 1e17:
        return _EPOCH + timedelta(microseconds=number)
    return _EPOCH + timedelta(microseconds=number // 1000)


def parse_range_time(text: str) -> int:
    """``--from``/``--to``: ISO-8601 (naive is UTC) or epoch milliseconds, as epoch ms.

    >>> parse_range_time("2026-01-01T00:00:00Z"), parse_range_time("1767225600000")
    (1767225600000, 1767225600000)
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SourceError(
            f"time {text[:40]!r}: expected ISO-8601 (e.g. 2026-01-31T00:00:00Z) or epoch ms"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


# --- reading --------------------------------------------------------------------------------


def read_log(
    path: Path | str,
    columns: Mapping[str, str] = _EMPTY,
    types: Mapping[str, str] = _EMPTY,
    extra_event_types: Iterable[str] = (),
) -> Iterator[Record | Reject]:
    """Records and rejects of a log, in file order; the format follows the extension.

    ``.jsonl``/``.ndjson``/``.json`` (JSON Lines), ``.csv`` (both also ``.gz``) and
    ``.parquet``. Checks the file and the mapping before returning.
    """
    path = Path(path)
    kind = log_format(path)
    allowed = EVENT_TYPES | frozenset(extra_event_types)
    for written, meant in types.items():
        if meant not in allowed | {PROFILE_TYPE, ERASURE_TYPE}:
            raise SourceError(f"type map {written}={meant}: {meant!r} is not a known event type")
    context = {"event_types": allowed}
    if kind == "jsonl":
        _check_readable(path)
        return _read_jsonl(path, columns, types, context)
    if kind == "csv":
        header = _csv_header(path)
        return _read_csv(path, header, _plan(path, header, columns), types, context)
    header = _parquet_header(path)
    return _read_parquet(path, _plan(path, header, columns), types, context)


def log_format(path: Path) -> str:
    """``jsonl``, ``csv`` or ``parquet``, from the file name."""
    suffix = path.suffix.lower()
    gzipped = suffix == ".gz"
    if gzipped:
        suffix = Path(path.stem).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".parquet" and not gzipped:
        return "parquet"
    raise SourceError(
        f"{path}: unknown log format (expected .jsonl, .ndjson, .json or .csv, "
        "optionally gzipped, or .parquet)"
    )


def derived_event_id(origin: str) -> str:
    """The event id of a row that has none: stable across runs, derived from its origin."""
    return "row-" + hashlib.sha256(origin.encode()).hexdigest()[:24]


def _check_readable(path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from None


def _open_text(path: Path) -> IO[str]:
    # surrogateescape: a byte that is not UTF-8 spoils its row, not the whole file.
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


@contextlib.contextmanager
def _file_errors(path: Path) -> Iterator[None]:
    """A broken file (truncated gzip, corrupt Parquet) ends the read with one line."""
    try:
        yield
    except (OSError, EOFError, pa.ArrowException, csv.Error) as exc:
        raise SourceError(f"{path}: {exc}") from None


def _reject(position: int, origin: str, rejected: Rejected, raw: str) -> Reject:
    # Lone surrogates (bytes that were not UTF-8) would break whoever writes `raw` out.
    safe = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return Reject(position, origin, rejected.reason, rejected.error, safe)


# --- JSON Lines -----------------------------------------------------------------------------

Contract = type[BehaviourEvent | ProfileUpdate | ErasureRequest]
_ROLES: dict[str, Contract] = {
    "behaviour": BehaviourEvent,
    "profile": ProfileUpdate,
    "profiles": ProfileUpdate,
    "erasure": ErasureRequest,
    "erasures": ErasureRequest,
}
# `segment-engine generate --out` writes `_topic` first: strip it without parsing twice.
# The validator itself, not `model_validate_json`: its wrapper costs ~1 µs a line.
_PREFIXES = tuple(
    (f'{{"_topic": "{role}", '.encode(), model.__pydantic_validator__.validate_json)
    for role, model in _ROLES.items()
)


def _fast_record(position: int, origin: str, event: InputEvent) -> Record:
    """``Record(...)`` at half the cost: a frozen dataclass sets each field through
    ``object.__setattr__`` (~2 µs a record, a fifth of reading a line); slots do not."""
    record = _new(Record)
    _set_position(record, position)
    _set_origin(record, origin)
    _set_event(record, event)
    return record


_new = object.__new__
_set_position = Record.__dict__["position"].__set__  # the slots' member descriptors
_set_origin = Record.__dict__["origin"].__set__
_set_event = Record.__dict__["event"].__set__


def _read_jsonl(
    path: Path, columns: Mapping[str, str], types: Mapping[str, str], context: dict[str, Any]
) -> Iterator[Record | Reject]:
    # This loop is the read rate of a replay: keep per-line work to the validation itself.
    name, position = path.name, 0
    fast = not columns and not types
    prefixes = _PREFIXES if fast else ()
    with _file_errors(path), _open_binary(path) as lines:
        for number, line in enumerate(lines, 1):
            result: InputEvent | Rejected
            try:
                for prefix, validate in prefixes:
                    if line.startswith(prefix):
                        result = validate(b"{" + line[len(prefix) :], context=context)
                        break
                else:
                    if not line or line.isspace():
                        continue
                    result = _jsonl_event(line, fast, columns, types, context)
            except ValidationError as exc:
                result = rejection_of(exc)
            if isinstance(result, Rejected):
                raw = line.decode("utf-8", "replace").rstrip("\r\n")
                yield _reject(position, f"{name}:{number}", result, raw)
            else:
                yield _fast_record(position, f"{name}:{number}", result)
            position += 1


def _jsonl_event(
    line: bytes,
    fast: bool,
    columns: Mapping[str, str],
    types: Mapping[str, str],
    context: dict[str, Any],
) -> InputEvent | Rejected:
    """A line that is not of the usual shape, or any line when names are mapped.

    Raises ``ValidationError`` when it breaks the contract.
    """
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        return Rejected("undecodable", f"not JSON: {exc}")
    if not isinstance(value, dict):
        return Rejected("undecodable", "a line must be one JSON object")
    role = value.pop("_topic", None)
    if role is None and fast:  # no `_topic` to strip: validate the line as it is
        return _infer(value).model_validate_json(line, context=context)
    if role is not None and str(role) not in _ROLES:
        return Rejected("invalid", f"_topic: unknown role {str(role)[:40]!r}")
    model = _infer(value) if role is None else _ROLES[str(role)]
    _rename(value, columns, types)
    return model.model_validate_json(json.dumps(value), context=context)


def _infer(value: dict[str, Any]) -> Contract:
    if "request_id" in value:
        return ErasureRequest
    if "attributes" in value:
        return ProfileUpdate
    return BehaviourEvent


def _rename(value: dict[str, Any], columns: Mapping[str, str], types: Mapping[str, str]) -> None:
    for target, key in columns.items():
        if key not in value:
            continue
        group, _, name = target.partition(".")
        if name:
            nested = value.setdefault(group, {})
            if isinstance(nested, dict):
                nested[name] = value.pop(key)
        else:
            value[target] = value.pop(key)
    kind = value.get("type")
    if isinstance(kind, str) and kind in types:
        value["type"] = types[kind]


# --- CSV and Parquet ------------------------------------------------------------------------


def _csv_header(path: Path) -> list[str]:
    _check_readable(path)
    with _file_errors(path), _open_text(path) as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise SourceError(f"{path}: empty file (no header row)")
    return [name.strip() for name in header]


def _parquet_header(path: Path) -> list[str]:
    _check_readable(path)
    try:
        return list(pq.read_schema(path).names)
    except pa.ArrowException as exc:
        raise SourceError(f"{path}: not a readable Parquet file ({exc})") from None


def _plan(path: Path, header: Sequence[str], columns: Mapping[str, str]) -> dict[str, str]:
    """Which column feeds which field: the mapping, then columns named like fields."""
    present = set(header)
    for target, column in columns.items():
        if column not in present:
            raise SourceError(f"{path}: column {column!r} (mapped to {target}) is not in the file")
    plan = dict(columns)
    for target in KNOWN_FIELDS:
        bare = target.partition(".")[2] or target
        if target not in plan and bare in present:
            plan[target] = bare
    for target in REQUIRED:
        if target not in plan:
            shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
            raise SourceError(
                f"{path}: no column for {target} (columns: {shown}); "
                f"map one with --map {target}=COLUMN"
            )
    return plan


def _read_csv(
    path: Path,
    header: list[str],
    plan: dict[str, str],
    types: Mapping[str, str],
    context: dict[str, Any],
) -> Iterator[Record | Reject]:
    layout = _Layout.of(plan, {column: i for i, column in reversed(list(enumerate(header)))})
    name, width, position = path.name, len(header), 0
    with _file_errors(path), _open_text(path) as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            if not row:  # a blank line
                continue
            origin = f"{name}:{reader.line_num}"
            result = _broken(row, width) or _tabular(
                [cell.strip() for cell in row], layout, origin, types, context
            )
            if isinstance(result, Rejected):
                shown = dict(zip(header, row, strict=True)) if len(row) == width else row
                raw = json.dumps(shown, ensure_ascii=False)
                yield _reject(position, origin, result, raw)
            else:
                yield Record(position, origin, result)
            position += 1


def _broken(row: list[str], width: int) -> Rejected | None:
    if len(row) != width:
        return Rejected("undecodable", f"row has {len(row)} cells, the header has {width}")
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError:
        return Rejected("undecodable", "row is not UTF-8")
    return None


def _read_parquet(
    path: Path, plan: dict[str, str], types: Mapping[str, str], context: dict[str, Any]
) -> Iterator[Record | Reject]:
    wanted = sorted(set(plan.values()))
    layout = _Layout.of(plan, {column: i for i, column in enumerate(wanted)})
    texts = {column for target, column in plan.items() if target in _TEXT_FIELDS}
    name, position = path.name, 0
    with _file_errors(path), pq.ParquetFile(path) as source:
        for batch in source.iter_batches(batch_size=_BATCH_ROWS, columns=wanted):
            cells = [_as_cells(batch.column(c), c in texts) for c in wanted]
            for row in zip(*cells, strict=True):
                origin = f"{name}:{position + 1}"
                result = _tabular(row, layout, origin, types, context)
                if isinstance(result, Rejected):
                    shown = dict(zip(wanted, row, strict=True))
                    raw = json.dumps(shown, default=str, ensure_ascii=False)
                    yield _reject(position, origin, result, raw)
                else:
                    yield Record(position, origin, result)
                position += 1


def _as_cells(column: pa.Array, text: bool) -> list[Any]:
    """A column's values; numbers that feed text fields (ids, mostly) as text."""
    kind = column.type
    if text and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        column = column.cast(pa.string())
    values: list[Any] = column.to_pylist()
    return values


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a row's cells go: top-level fields, properties and attributes (by cell index)."""

    top: tuple[tuple[str, int], ...]
    properties: tuple[tuple[str, int], ...]
    attributes: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, plan: Mapping[str, str], index: Mapping[str, int]) -> _Layout:
        groups: dict[str, list[tuple[str, int]]] = {"": [], "properties": [], "attributes": []}
        for target, column in plan.items():
            group, _, name = target.partition(".")
            if name:
                groups[group].append((name, index[column]))
            else:
                groups[""].append((target, index[column]))
        return cls(tuple(groups[""]), tuple(groups["properties"]), tuple(groups["attributes"]))


def _pick(pairs: tuple[tuple[str, int], ...], row: Sequence[Any]) -> dict[str, Any]:
    """The non-empty cells named by ``pairs``: an empty cell is a missing value."""
    return {name: cell for name, i in pairs if (cell := row[i]) is not None and cell != ""}


def _tabular(
    row: Sequence[Any],
    layout: _Layout,
    origin: str,
    types: Mapping[str, str],
    context: dict[str, Any],
) -> InputEvent | Rejected:
    """A row as an input event of the kind its type names."""
    given = _pick(layout.top, row)
    kind = given.get("type")
    if kind is None:
        return Rejected("invalid", "type: missing")
    kind = types.get(str(kind), str(kind))
    value = {"customer_id": given["customer_id"]} if "customer_id" in given else {}
    if "timestamp" in given:
        try:
            value["timestamp"] = parse_time(given["timestamp"])
        except ValueError as exc:
            return Rejected("invalid", f"timestamp: {exc}")
    model: Contract
    if kind == PROFILE_TYPE:
        model = ProfileUpdate
        value["attributes"] = _pick(layout.attributes, row)
    elif kind == ERASURE_TYPE:
        model = ErasureRequest
        value["request_id"] = given.get("request_id") or derived_event_id(origin)
    else:
        model = BehaviourEvent
        value.update((k, given[k]) for k in ("amount", "currency") if k in given)
        value["event_id"] = given.get("event_id") or derived_event_id(origin)
        value["type"] = kind
        value["properties"] = _pick(layout.properties, row) or None
    try:
        return model.model_validate(value, context=context)
    except ValidationError as exc:
        return rejection_of(exc)
