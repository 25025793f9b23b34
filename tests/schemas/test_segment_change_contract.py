"""The segment change contract: JSON round trips, extra keys and bad values rejected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.changes import SegmentChange, SegmentRef
from schemas.features import DEFAULT_LEARNED_FEATURES

REF = st.builds(
    SegmentRef,
    id=st.text(min_size=1, max_size=20),
    name=st.text(max_size=20),
    kind=st.sampled_from(["learned", "rule"]),
)
MOMENT = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=60)
@given(
    change=st.builds(
        SegmentChange,
        change_id=st.text(min_size=1, max_size=40),
        customer_id=st.text(min_size=1, max_size=40),
        previous_segment=st.none() | REF,
        segment=st.none() | REF,
        changed_at=MOMENT,
        emitted_at=MOMENT,
        model_version=st.integers(0, 2**31),
        reason=st.sampled_from(["assigned", "reassigned", "entered_rule", "left_rule", "erased"]),
        trigger_event_id=st.none() | st.text(max_size=40),
        features=st.dictionaries(
            st.sampled_from(DEFAULT_LEARNED_FEATURES),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
    )
)
def test_segment_change_round_trips_through_json(change: SegmentChange) -> None:
    assert SegmentChange.model_validate_json(change.model_dump_json()) == change


def test_segment_change_rejects_extra_keys_and_negative_versions() -> None:
    good = {
        "change_id": "x",
        "customer_id": "c1",
        "previous_segment": None,
        "segment": {"id": "learned-0", "name": "Zero", "kind": "learned"},
        "changed_at": "2026-01-01T00:00:00+00:00",
        "emitted_at": "2026-01-01T00:00:01+00:00",
        "model_version": 1,
        "reason": "assigned",
        "features": {"frequency": 1.0},
    }
    assert SegmentChange.model_validate(good).schema_version == 1
    for bad in ({"extra": 1}, {"model_version": -1}, {"reason": "moved"}, {"schema_version": 2}):
        with pytest.raises(ValidationError):
            SegmentChange.model_validate({**good, **bad})
