"""How a log's own names map onto the input contracts: columns, keys and event types.

JSON Lines keys and CSV or Parquet columns are renamed by a :class:`ColumnMap`
(``--map``, ``--type-map``, ``--map-file``); a tabular file's columns that are named
like contract fields need no mapping (:func:`plan_columns`). A field the file lacks
may be given one value for every row instead (``--set type=purchase``): a field is
read from the file or set, never both, and a set value is checked against the
contract before the first row is read (:func:`checked_constants`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from replay.errors import SourceError
from replay.timeparse import parse_time
from schemas.dead_letters import one_line
from schemas.events import BehaviourEvent, EventProperties, ProfileAttributes, ProfileUpdate

__all__ = [
    "ATTRIBUTE_FIELDS",
    "ERASURE_TYPE",
    "KNOWN_FIELDS",
    "PROFILE_TYPE",
    "PROPERTY_FIELDS",
    "REQUIRED",
    "TOP_FIELDS",
    "UNSETTABLE",
    "ColumnMap",
    "canonical_field",
    "checked_constants",
    "plan_columns",
]

PROFILE_TYPE = "profile_update"  # the `type` of a CSV/Parquet row that is a profile update
ERASURE_TYPE = "erasure_request"  # ... and of one that is an erasure request
REQUIRED = ("customer_id", "timestamp", "type")
TOP_FIELDS = ("event_id", "customer_id", "type", "timestamp", "amount", "currency", "request_id")
PROPERTY_FIELDS = tuple(f"properties.{name}" for name in EventProperties.model_fields)
ATTRIBUTE_FIELDS = tuple(f"attributes.{name}" for name in ProfileAttributes.model_fields)
KNOWN_FIELDS = TOP_FIELDS + PROPERTY_FIELDS + ATTRIBUTE_FIELDS
# One id for every row would make them all one event (replays count an id once); a row
# without an id gets one derived from its place in the file instead.
UNSETTABLE = ("event_id", "request_id")


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """How a file's names map onto the contracts.

    ``columns`` maps a contract field to the file's column (``customer_id -> user``);
    property and attribute fields are ``properties.NAME`` / ``attributes.NAME``, and
    their bare names (``category``, ``age``) are accepted too. ``types`` maps an event
    type as written in the file to the contract's (``view -> page_view``). ``constants``
    gives a field one value for every row (``type -> purchase``), as if a column held it;
    a field is mapped or set, not both, and ids are never set (:data:`UNSETTABLE`).

    >>> ColumnMap.parse(["customer_id=user", "category=cat"], ["view=page_view"]).columns
    {'customer_id': 'user', 'properties.category': 'cat'}
    >>> ColumnMap.parse(["customer_id=cust"], sets=["type=purchase", "channel=web"]).constants
    {'type': 'purchase', 'properties.channel': 'web'}
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for target, value in self.constants.items():
            if target in UNSETTABLE:
                raise SourceError(
                    f"{target} cannot be set: ids differ by row (a row without one gets "
                    "one derived from its place in the file)"
                )
            if target in self.columns:
                raise SourceError(
                    f"{target} is both mapped (to column {self.columns[target]!r}) and set "
                    f"(to {_shown(value)}): map it or set it, not both"
                )

    @classmethod
    def parse(
        cls,
        maps: Iterable[str] | None = (),
        type_maps: Iterable[str] | None = (),
        file: Path | None = None,
        sets: Iterable[str] | None = (),
    ) -> ColumnMap:
        """From ``--map FIELD=COLUMN``, ``--type-map FILE_TYPE=TYPE`` and ``--set
        FIELD=VALUE``, over a mapping file (a flag wins over the file for the same name).

        ``None`` counts as none given (argparse's ``append`` default).
        """
        base = cls.load(file) if file is not None else cls()
        pairs = _split(maps or (), "--map", "FIELD=COLUMN")
        columns = {**base.columns, **_pairs(pairs, "--map", canonical_field)}
        pairs = _split(type_maps or (), "--type-map", "FILE_TYPE=EVENT_TYPE")
        types = {**base.types, **_pairs(pairs, "--type-map")}
        pairs = _split(sets or (), "--set", "FIELD=VALUE")
        constants = {**base.constants, **_pairs(pairs, "--set", canonical_field, "set")}
        return cls(columns, types, constants)

    @classmethod
    def load(cls, path: Path) -> ColumnMap:
        """A TOML or JSON mapping file: ``{columns = {...}, types = {...}, constants = {...}}``.

        Constants are text or numbers (``{currency = "USD", amount = 0}``).
        """
        where = f"mapping file {path}"
        data = _load_table(path, where)
        unknown = sorted(set(data) - {"columns", "types", "constants"})
        if unknown:
            raise SourceError(
                f"{where}: unknown key {unknown[0]!r} (expected columns, types, constants)"
            )
        tables = {}
        for key in ("columns", "types"):
            table = data.get(key, {})
            if not isinstance(table, dict) or not all(
                isinstance(v, str) and v for v in table.values()
            ):
                raise SourceError(f"{where}: {key} must be a table of names to names")
            tables[key] = list(table.items())
        columns = _pairs(tables["columns"], f"{where}: columns", canonical_field)
        types = _pairs(tables["types"], f"{where}: types")
        given = _constants(data.get("constants", {}), where)
        constants = _pairs(given, f"{where}: constants", canonical_field, "set")
        try:
            return cls(columns, types, constants)
        except SourceError as exc:
            raise SourceError(f"{where}: {exc}") from None


def canonical_field(name: str) -> str:
    """``category`` -> ``properties.category``, ``age`` -> ``attributes.age``; else unchanged."""
    if f"properties.{name}" in PROPERTY_FIELDS:
        return f"properties.{name}"
    if f"attributes.{name}" in ATTRIBUTE_FIELDS:
        return f"attributes.{name}"
    return name


def plan_columns(
    path: Path,
    header: Sequence[str],
    columns: Mapping[str, str],
    constants: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Which column feeds which field: the mapping, then columns named like fields;
    a field that is set (``constants``) takes no column, and one named like it is an
    error, as a field both mapped and set is."""
    present, constants = set(header), constants or {}
    for target, column in columns.items():
        if column not in present:
            raise SourceError(f"{path}: column {column!r} (mapped to {target}) is not in the file")
    plan = dict(columns)
    for target in KNOWN_FIELDS:
        bare = target.partition(".")[2] or target
        if target not in plan and bare in present:
            if target in constants:
                raise SourceError(
                    f"{path}: {target} is both in the file (column {bare!r}) and set "
                    f"(to {_shown(constants[target])}): drop the --set to read the column"
                )
            plan[target] = bare
    for target in REQUIRED:
        if target not in plan and target not in constants:
            shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
            # One line, though a quoted header cell may hold line breaks.
            shown = shown.replace("\r", "\\r").replace("\n", "\\n")
            raise SourceError(
                f"{path}: no column for {target} (columns: {shown}); "
                f"map one with --map {target}=COLUMN or give every row one with "
                f"--set {target}=VALUE"
            )
    return plan


def checked_constants(
    constants: Mapping[str, str], types: Mapping[str, str], context: dict[str, Any]
) -> dict[str, str]:
    """The set values, each checked against its contract under ``context`` (event
    types, time floor, size limits); a time as ISO-8601 in UTC, whatever format it came in.

    >>> from schemas.events import allowed_types_context
    >>> context = allowed_types_context()
    >>> checked_constants({"timestamp": "20240105", "type": "buy"}, {"buy": "purchase"}, context)
    {'timestamp': '2024-01-05T00:00:00+00:00', 'type': 'buy'}
    >>> checked_constants({"type": "purchse"}, {}, context)
    Traceback (most recent call last):
    ...
    replay.errors.SourceError: set field type='purchse': 'purchse' is not a known event type
    """
    checked = {}
    for target, value in constants.items():
        try:
            checked[target] = _checked(target, value, types, context)
        except ValueError as exc:  # SourceError is one
            raise SourceError(f"set field {target}={_shown(value)}: {one_line(str(exc))}") from None
    return checked


def _checked(target: str, value: str, types: Mapping[str, str], context: dict[str, Any]) -> str:
    if target == "type":  # as a type column's cell is read: through the type map
        meant = types.get(value, value)
        if meant not in context["event_types"] | {PROFILE_TYPE, ERASURE_TYPE}:
            raise ValueError(f"{meant!r} is not a known event type")
        return value
    if target == "timestamp":
        value = parse_time(value).isoformat()
    group, _, name = target.partition(".")
    model = ProfileUpdate if group == "attributes" else BehaviourEvent
    where = (group, name) if name else (target,)
    try:  # the field alone: the other fields' errors (all missing) are not its own
        model.model_validate({group: {name: value}} if name else {target: value}, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            if error["loc"][: len(where)] == where or error["loc"] == (group,):
                raise ValueError(f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    return value


def _load_table(path: Path, where: str) -> dict[str, Any]:
    parsers: dict[str, Callable[[str], Any]] = {".toml": tomllib.loads, ".json": json.loads}
    parse = parsers.get(path.suffix.lower())
    if parse is None:
        raise SourceError(f"{where}: expected a .toml or .json file")
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"{where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SourceError(f"{where}: not UTF-8 text") from None
    # ValueError: either parser's syntax error, or an integer of over 4,300 digits.
    except ValueError as exc:
        raise SourceError(f"{where}: {exc}") from None
    except RecursionError:  # both parsers recurse once per level of nesting
        raise SourceError(f"{where}: nested too deeply") from None
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


def _constants(table: object, where: str) -> list[tuple[str, str]]:
    """A mapping file's constants: text, or numbers written as numbers (never booleans)."""
    if not isinstance(table, dict) or not all(
        (isinstance(v, str) and v) or (isinstance(v, int | float) and not isinstance(v, bool))
        for v in table.values()
    ):
        raise SourceError(f"{where}: constants must be a table of fields to text or numbers")
    return [(k, str(v)) for k, v in table.items()]


def _shown(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _pairs(
    pairs: Iterable[tuple[str, str]],
    where: str,
    key: Callable[[str], str] | None = None,
    verb: str = "mapped",
) -> dict[str, str]:
    out: dict[str, str] = {}
    for left, right in pairs:
        name = key(left) if key is not None else left
        item = one_line(f"{left}={right}")  # a mapping file's name may hold a line break
        if key is not None and not _known_field(name):
            raise SourceError(
                f"{where} '{item}': unknown field {left!r} (expected one of "
                f"{', '.join(TOP_FIELDS)}, a property or attribute name, "
                "properties.NAME or attributes.NAME)"
            )
        if name in out:
            raise SourceError(f"{where} '{item}': {one_line(left)} is {verb} twice")
        out[name] = right
    return out


def _known_field(name: str) -> bool:
    group, _, rest = name.partition(".")
    return name in KNOWN_FIELDS or (group in ("properties", "attributes") and bool(rest))
