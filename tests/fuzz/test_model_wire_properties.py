"""Fuzzing the trainer's wire (``streams.model_wire``): whatever a lessons or models
message holds, decoding gives well-formed contributions or records, or raises one of the
errors its callers dead-letter (``ValueError``, ``TypeError``, ``KeyError``).

The smallest inputs fuzzing first found (a short or deep row, ill-typed values, a
model whose parts disagree) are kept as cases of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clustering.identity import Lineage
from engine.clustering.published import PublishedModel
from engine.epochs import Lesson, LessonFor, ModelRecord, Sealed
from schemas.changes import SegmentRef
from streams.model_wire import decode_contributions, decode_record, encode_record
from tests.fuzz.strategies import JSON, deep, json_bytes

CAUGHT = (ValueError, TypeError, KeyError)  # what the trainer and the follower catch
FUZZ = settings(max_examples=300, deadline=None)
_INT = st.integers(-(2**40), 2**40)
_ANY = JSON | _INT | st.sampled_from([True, 1.5, 1e300, -1, "x", None, [], {}])


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_features(value: object) -> bool:
    return value is None or (
        isinstance(value, dict)
        and all(
            isinstance(k, str) and (v is None or isinstance(v, str | float) or is_int(v))
            for k, v in value.items()
        )
    )


def check_contribution(item: object) -> None:
    """A contribution the trainer can take: whole numbers, a partition, a customer's
    features (or None: erased)."""
    if isinstance(item, Sealed):
        assert is_int(item.partition) and item.partition >= 0 and is_int(item.epoch)
        return
    assert isinstance(item, LessonFor)
    assert is_int(item.partition) and item.partition >= 0 and is_int(item.epoch)
    lesson = item.lesson
    assert isinstance(lesson, Lesson) and isinstance(lesson.customer_id, str)
    assert is_int(lesson.at_ms) and is_features(lesson.features)


def check_record(record: ModelRecord) -> None:
    """A record a worker can adopt: whole numbers, and a model whose parts agree."""
    for value in (record.learned, record.epoch, record.sealed_max):
        assert value is None or is_int(value)
    assert all(isinstance(ref, SegmentRef) for ref in record.segments)
    assert all(isinstance(step, Lineage) for step in record.lineage)
    model = record.model
    if model is not None:
        assert is_int(model.version)
        assert all(isinstance(i, str) for i in model.ids)
        k, d = model.centroids.shape if model.centroids.ndim == 2 else (-1, -1)
        assert k == len(model.ids) and model.means.shape == model.scales.shape == (d,)
        assert all(math.isfinite(x) for x in model.means.tolist() + model.scales.tolist())


def decoded_or_refused(
    decoder: Callable[[bytes], Any], data: bytes, check: Callable[[Any], None]
) -> None:
    try:
        result = decoder(data)
    except CAUGHT:
        return
    for item in result if isinstance(result, list) else [result]:
        check(item)


# --- lessons ------------------------------------------------------------------------------

ROWS = st.lists(
    st.one_of(
        st.tuples(st.just("sealed"), _ANY, _ANY).map(list),
        st.tuples(st.just("lesson"), _ANY, _ANY, _ANY, _ANY, _ANY).map(list),
        st.tuples(st.just("sealed"), _INT, _INT).map(list),
        st.lists(_ANY, max_size=7),
    ),
    max_size=4,
)


@FUZZ
@given(data=st.binary(max_size=100) | ROWS.map(json_bytes) | JSON.map(json_bytes))
def test_any_lessons_message_is_decoded_or_refused(data: bytes) -> None:
    decoded_or_refused(decode_contributions, data, check_contribution)


# --- models -------------------------------------------------------------------------------

VALID_RECORD = ModelRecord(
    3,
    2,
    PublishedModel(
        2, np.array([0.0, 1.0]), np.array([1.0, 2.0]), ("seg-1",), np.array([[0.5, 0.5]])
    ),
    (SegmentRef(id="seg-1", name="one", kind="learned"),),
    (Lineage(1, "born", (), ("seg-1",)),),
    4,
)
VALID_BODY = orjson.loads(encode_record(VALID_RECORD))


@st.composite
def near_valid_records(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = dict(VALID_BODY)
    for name in list(body):
        if draw(st.integers(0, 3)) == 0:
            body[name] = draw(_ANY)
    if isinstance(body.get("model"), list) and body["model"] and draw(st.booleans()):
        model = list(body["model"])
        model[draw(st.integers(0, len(model) - 1))] = draw(_ANY)
        body["model"] = model
    return json_bytes(body)


@FUZZ
@given(data=st.binary(max_size=100) | JSON.map(json_bytes) | near_valid_records())
def test_any_models_message_is_decoded_or_refused(data: bytes) -> None:
    decoded_or_refused(decode_record, data, check_record)


def test_a_record_reads_back_as_itself() -> None:
    assert decode_record(encode_record(VALID_RECORD)) == VALID_RECORD
    check_record(VALID_RECORD)


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
def test_nesting_of_any_depth_is_refused(depth: int) -> None:
    for decoder in (decode_contributions, decode_record):
        with pytest.raises(CAUGHT):
            decoder(deep(depth).encode())


# --- the smallest inputs fuzzing found (each once raised out or decoded ill-formed) -------

FOUND = [
    b"[[]]",
    b'[["sealed"]]',
    b'[["lesson",0,0,"c",0,"x"]]',
    b'[["sealed",-1,0]]',
    deep(1_000).encode(),
    b'{"model":null,"learned":"x","epoch":null,"segments":[],"lineage":[],"sealed_max":null}',
    b'{"model":[1,"ab",[1],[1],[[1]]],"learned":1,"epoch":1,"segments":[],'
    b'"lineage":[],"sealed_max":1}',
    b'{"model":[1,["a"],[1,2],[1],[[1]]],"learned":1,"epoch":1,"segments":[],'
    b'"lineage":[],"sealed_max":1}',
]


@pytest.mark.parametrize("data", FOUND)
def test_what_fuzzing_found_is_refused(data: bytes) -> None:
    decoder = decode_record if data.startswith(b"{") else decode_contributions
    with pytest.raises(CAUGHT):
        decoder(data)
