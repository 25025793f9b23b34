"""Rows of a table (CSV, Parquet) as input events: the part the tabular readers share.

A row's ``type`` cell (or the type set for every row) names its contract: a profile
update, an erasure request, or else a behaviour event. Times are read in the common
formats of :func:`parse_time`; a row without an event id (or request id) gets one
derived from where it is in the file (its name and line or row number), so the same
file replays the same, and two equal rows are two events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from replay.mapping import ERASURE_TYPE, PROFILE_TYPE
from replay.readers.base import Contract
from replay.timeparse import parse_time
from schemas.decode import Rejected
from schemas.decode import rejection as rejection_of
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate

__all__ = ["Layout", "derived_event_id", "row_event"]


def derived_event_id(origin: str) -> str:
    """The event id of a row that has none: stable across runs, derived from its origin."""
    return "row-" + hashlib.sha256(origin.encode()).hexdigest()[:24]


_Cells = tuple[tuple[str, int], ...]  # field name, cell index
_Set = tuple[tuple[str, str], ...]  # field name, the value every row gets


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a row's cells go: top-level fields, properties and attributes (by cell index),
    and the values set for every row (``--set``), by the same groups."""

    top: _Cells
    properties: _Cells
    attributes: _Cells
    set_top: _Set = ()
    set_properties: _Set = ()
    set_attributes: _Set = ()

    @classmethod
    def of(
        cls,
        plan: Mapping[str, str],
        index: Mapping[str, int],
        constants: Mapping[str, str] | None = None,
    ) -> Layout:
        """From a column plan (field -> column), the columns' places in a row, and the
        fields set for every row (which the plan leaves out)."""
        cells: dict[str, list[tuple[str, int]]] = {"": [], "properties": [], "attributes": []}
        for target, column in plan.items():
            group, _, name = target.partition(".")
            cells[group if name else ""].append((name or target, index[column]))
        fixed: dict[str, list[tuple[str, str]]] = {"": [], "properties": [], "attributes": []}
        for target, value in (constants or {}).items():
            group, _, name = target.partition(".")
            fixed[group if name else ""].append((name or target, value))
        return cls(
            tuple(cells[""]), tuple(cells["properties"]), tuple(cells["attributes"]),
            tuple(fixed[""]), tuple(fixed["properties"]), tuple(fixed["attributes"]),
        )  # fmt: skip


def _pick(pairs: _Cells, row: Sequence[Any], fixed: _Set = ()) -> dict[str, Any]:
    """The non-empty cells named by ``pairs`` (an empty cell is a missing value), and
    the set values (no field is both: :func:`replay.mapping.plan_columns`)."""
    picked = {name: cell for name, i in pairs if (cell := row[i]) is not None and cell != ""}
    if fixed:
        picked.update(fixed)
    return picked


def row_event(
    row: Sequence[Any],
    layout: Layout,
    origin: str,
    types: Mapping[str, str],
    context: dict[str, Any],
) -> InputEvent | Rejected:
    """A row as an input event of the kind its type names."""
    given = _pick(layout.top, row, layout.set_top)
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
        value["attributes"] = _pick(layout.attributes, row, layout.set_attributes)
    elif kind == ERASURE_TYPE:
        model = ErasureRequest
        value["request_id"] = given.get("request_id") or derived_event_id(origin)
    else:
        model = BehaviourEvent
        value.update((k, given[k]) for k in ("amount", "currency") if k in given)
        value["event_id"] = given.get("event_id") or derived_event_id(origin)
        value["type"] = kind
        value["properties"] = _pick(layout.properties, row, layout.set_properties) or None
    try:
        return model.model_validate(value, context=context)
    except ValidationError as exc:
        return rejection_of(exc)
