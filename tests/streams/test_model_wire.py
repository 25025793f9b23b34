"""The trainer's topics round-trip what the engine sends, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.clustering.identity import Lineage
from engine.clustering.published import PublishedModel
from engine.epochs import Lesson, LessonFor, ModelRecord, Sealed
from schemas.changes import SegmentRef
from streams.model_wire import (
    decode_contributions,
    decode_record,
    encode_contributions,
    encode_record,
    record_hash,
)

floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
features = st.dictionaries(st.text(max_size=8), st.one_of(floats, st.text(max_size=8), st.none()),
                           max_size=4)  # fmt: skip
lessons = st.builds(LessonFor, st.integers(0, 63), st.integers(-(2**40), 2**40),
                    st.builds(Lesson, st.text(max_size=12), st.integers(0, 2**50),
                              st.one_of(st.none(), features)))  # fmt: skip
seals = st.builds(Sealed, st.integers(0, 63), st.integers(-(2**40), 2**40))


@given(st.lists(st.one_of(lessons, seals), max_size=20))
def test_contributions_round_trip(items: list[LessonFor | Sealed]) -> None:
    assert decode_contributions(encode_contributions(items)) == items


@st.composite
def records(draw: st.DrawFn) -> ModelRecord:
    k, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    row = st.lists(floats, min_size=d, max_size=d)
    model = PublishedModel(draw(st.integers(1, 99)), np.array(draw(row)), np.array(draw(row)),
                           tuple(f"seg-{i}" for i in range(k)),
                           np.array(draw(st.lists(row, min_size=k, max_size=k))))  # fmt: skip
    refs = tuple(SegmentRef(id=f"seg-{i}", name=f"n{i}", kind="learned") for i in range(k))
    lineage = (Lineage(1, "born", (), ("seg-0",)),)
    epochs = st.none() | st.integers(-(2**40), 2**40)
    return ModelRecord(draw(epochs), 3, draw(st.none() | st.just(model)), refs, lineage,
                       draw(epochs))  # fmt: skip


@given(records())
def test_model_records_round_trip(record: ModelRecord) -> None:
    assert decode_record(encode_record(record)) == record


def test_the_hash_tells_two_models_of_one_version_apart() -> None:
    a = PublishedModel(2, np.array([0.0]), np.array([1.0]), ("seg-1",), np.array([[0.5]]))
    b = PublishedModel(2, np.array([0.0]), np.array([1.0]), ("seg-1",), np.array([[0.6]]))
    refs = (SegmentRef(id="seg-1", name="one", kind="learned"),)
    hashes = {record_hash(ModelRecord(learned, 1, model, refs, (), None))
              for model in (a, b) for learned in (5, 6)}  # fmt: skip
    assert len(hashes) == 2  # per model, not per progress


def test_an_unknown_contribution_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not a contribution: a row of 2 starting 'other'"):
        decode_contributions(b'[["other", 1]]')
