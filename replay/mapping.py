"""How a log's own names map onto the input contracts: columns, keys and event types.

JSON Lines keys and CSV or Parquet columns are renamed by a :class:`ColumnMap`
(``--map``, ``--type-map``, ``--map-file``); a tabular file's columns that are named
like contract fields need no mapping (:func:`plan_columns`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay.errors import SourceError
from schemas.events import EventProperties, ProfileAttributes

__all__ = [
    "ATTRIBUTE_FIELDS",
    "ERASURE_TYPE",
    "KNOWN_FIELDS",
    "PROFILE_TYPE",
    "PROPERTY_FIELDS",
    "REQUIRED",
    "TOP_FIELDS",
    "ColumnMap",
    "canonical_field",
    "plan_columns",
]

PROFILE_TYPE = "profile_update"  # the `type` of a CSV/Parquet row that is a profile update
ERASURE_TYPE = "erasure_request"  # ... and of one that is an erasure request
REQUIRED = ("customer_id", "timestamp", "type")
TOP_FIELDS = ("event_id", "customer_id", "type", "timestamp", "amount", "currency", "request_id")
PROPERTY_FIELDS = tuple(f"properties.{name}" for name in EventProperties.model_fields)
ATTRIBUTE_FIELDS = tuple(f"attributes.{name}" for name in ProfileAttributes.model_fields)
KNOWN_FIELDS = TOP_FIELDS + PROPERTY_FIELDS + ATTRIBUTE_FIELDS


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


def plan_columns(path: Path, header: Sequence[str], columns: Mapping[str, str]) -> dict[str, str]:
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
            # One line, though a quoted header cell may hold line breaks.
            shown = shown.replace("\r", "\\r").replace("\n", "\\n")
            raise SourceError(
                f"{path}: no column for {target} (columns: {shown}); "
                f"map one with --map {target}=COLUMN"
            )
    return plan


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
