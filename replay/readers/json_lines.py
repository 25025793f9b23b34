"""JSON Lines logs (``.jsonl``, ``.ndjson``, ``.json``, also gzipped), read as the topics are.

Lines follow the input contracts exactly, as the live topics do; a ``_topic`` key
(``segment-engine generate --out`` writes one) names the contract, else the keys do.
Keys may be mapped, and fields set for every line (:mod:`replay.mapping`): a set field
goes to the lines of the contract that has it, and a line with its own is rejected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from replay.readers.base import (
    Contract,
    Record,
    Reject,
    check_readable,
    file_errors,
    open_binary,
    reject,
)
from schemas._types import BYTES_CONTEXT_KEY, MAX_MESSAGE_BYTES
from schemas.decode import Rejected
from schemas.decode import rejection as rejection_of
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate

__all__ = ["read"]

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
_TOO_DEEP = Rejected("undecodable", "not JSON: nested too deeply")


def read(
    path: Path,
    columns: Mapping[str, str],
    types: Mapping[str, str],
    constants: Mapping[str, str],
    context: dict[str, Any],
) -> Iterator[Record | Reject]:
    """The log's rows; checks that the file can be opened before returning."""
    check_readable(path)
    return _read(path, _Names(columns, types, constants), context)


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


@dataclass(frozen=True, slots=True)
class _Names:
    """What ``--map``, ``--type-map`` and ``--set`` do to each line."""

    columns: Mapping[str, str]
    types: Mapping[str, str]
    constants: Mapping[str, str]


def _read(path: Path, names: _Names, context: dict[str, Any]) -> Iterator[Record | Reject]:
    # This loop is the read rate of a replay: keep per-line work to the validation itself.
    name, position = path.name, 0
    fast = not names.columns and not names.types and not names.constants
    prefixes = _PREFIXES if fast else ()
    limit = context.get(BYTES_CONTEXT_KEY, MAX_MESSAGE_BYTES)  # as the live decoder's
    with file_errors(path), open_binary(path) as lines:
        for number, line in enumerate(lines, 1):
            result: InputEvent | Rejected
            if len(line) > limit:
                result = Rejected(
                    "too_large", f"line is {len(line):,} bytes; the limit is {limit:,}"
                )
            else:
                try:
                    for prefix, validate in prefixes:
                        if line.startswith(prefix):
                            result = validate(b"{" + line[len(prefix) :], context=context)
                            break
                    else:
                        if not line or line.isspace():
                            continue
                        result = _event(line, fast, names, context)
                except ValidationError as exc:
                    result = rejection_of(exc)
            if isinstance(result, Rejected):
                raw = line.decode("utf-8", "replace").rstrip("\r\n")
                yield reject(position, f"{name}:{number}", result, raw)
            else:
                yield _fast_record(position, f"{name}:{number}", result)
            position += 1


def _event(
    line: bytes, fast: bool, names: _Names, context: dict[str, Any]
) -> InputEvent | Rejected:
    """A line that is not of the usual shape, or any line when names are mapped.

    Raises ``ValidationError`` when it breaks the contract.
    """
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        return Rejected("undecodable", f"not JSON: {exc}")
    except RecursionError:  # `[[[[...` thousands deep: json's parser recurses per level
        return _TOO_DEEP
    if not isinstance(value, dict):
        return Rejected("undecodable", "a line must be one JSON object")
    role = value.pop("_topic", None)
    if role is None and fast:  # no `_topic` to strip: validate the line as it is
        return _infer(value).model_validate_json(line, context=context)
    if role is not None and str(role) not in _ROLES:
        return Rejected("invalid", f"_topic: unknown role {str(role)[:40]!r}")
    model = _infer(value) if role is None else _ROLES[str(role)]
    _rename(value, names.columns)
    clash = _set(value, names.constants, model)
    if clash is not None:
        return clash
    kind = value.get("type")
    if isinstance(kind, str) and kind in names.types:
        value["type"] = names.types[kind]
    try:
        text = json.dumps(value)
    except RecursionError:  # parsed just under the limit, encoded just over it
        return _TOO_DEEP
    return model.model_validate_json(text, context=context)


def _infer(value: dict[str, Any]) -> Contract:
    if "request_id" in value:
        return ErasureRequest
    if "attributes" in value:
        return ProfileUpdate
    return BehaviourEvent


def _rename(value: dict[str, Any], columns: Mapping[str, str]) -> None:
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


def _set(value: dict[str, Any], constants: Mapping[str, str], model: Contract) -> Rejected | None:
    """Give the line the set fields its contract has; one it has already is a clash."""
    for target, given in constants.items():
        group, _, name = target.partition(".")
        if (group if name else target) not in model.model_fields:
            continue
        into = value
        if name:  # a property or attribute: into the line's bag, made if absent or null
            into = value[group] = {} if value.get(group) is None else value[group]
        if not isinstance(into, dict):
            continue  # not an object: the contract rejects the line as it is
        key = name or target
        if key in into:
            return Rejected("invalid", f"{target}: the line has one, and it is also set")
        into[key] = given
    return None
