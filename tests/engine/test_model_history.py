"""A worker's model history names a change's segments as the model it was decided
against named them: a restarted worker that has already heard of a rename sends the
same change again with the same content."""

from __future__ import annotations

import numpy as np

from engine.clustering.published import PublishedModel
from engine.epochs import ModelHistory, ModelRecord
from schemas.changes import SegmentRef


def record(version: int, epoch: int, names: dict[str, str]) -> ModelRecord:
    ids = tuple(names)
    model = PublishedModel(version, np.zeros(1), np.ones(1), ids,
                           np.arange(len(ids), dtype=float).reshape(-1, 1))  # fmt: skip
    refs = tuple(SegmentRef(id=i, name=n, kind="learned") for i, n in names.items())
    return ModelRecord(epoch, epoch, model, refs, (), epoch)


def test_each_model_keeps_the_names_it_was_published_with() -> None:
    history = ModelHistory()
    history.record(record(1, 0, {"seg-1": "window shoppers", "seg-2": "loyal"}))
    history.record(record(2, 3, {"seg-1": "window shoppers, recently active", "seg-2": "loyal"}))
    first, second = history.model(0), history.model(3)
    assert first is not None and second is not None
    assert history.refs(first)["seg-1"].name == "window shoppers"
    assert history.refs(second)["seg-1"].name == "window shoppers, recently active"
    assert history.segments["seg-1"].name == "window shoppers, recently active"

    restored = ModelHistory()
    restored.restore(history.snapshot())
    assert restored.refs(restored.model(0))["seg-1"].name == "window shoppers"
    assert restored.refs(restored.model(3))["seg-1"].name == "window shoppers, recently active"


def test_a_record_of_a_known_version_changes_no_names() -> None:
    history = ModelHistory()
    history.record(record(1, 0, {"seg-1": "window shoppers"}))
    history.record(record(2, 3, {"seg-1": "browsers"}))
    history.record(record(1, 0, {"seg-1": "something else"}))  # told again, late
    assert history.refs(history.model(0))["seg-1"].name == "window shoppers"
    assert history.segments["seg-1"].name == "browsers"


def test_a_pruned_model_reads_the_current_names() -> None:
    history = ModelHistory()
    history.record(record(1, 0, {"seg-1": "window shoppers"}))
    history.record(record(2, 3, {"seg-1": "browsers"}))
    gone = history.model(0)
    history.prune(5)
    assert history.refs(gone)["seg-1"].name == "browsers"
    assert history.refs(None)["seg-1"].name == "browsers"
