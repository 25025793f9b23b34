"""``replay.sources``: the names callers import, and a generated log read back whole.

Each concern is tested where it lives: ``readers/`` (one file per format and the
registry), ``test_mapping.py`` and ``test_timeparse.py``.
"""

from __future__ import annotations

from pathlib import Path

from cli.generate import write_jsonl
from replay import errors, mapping, readers, sources, timeparse
from replay.readers import tabular
from replay.sources import Record, read_log
from schemas.events import BehaviourEvent, ProfileUpdate
from synthetic import generate


def test_the_generator_format_reads_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "generated.jsonl"
    count = write_jsonl(generate(customers=5, days=2, seed=3), path)
    items = list(read_log(path))
    assert len(items) == count > 0
    assert all(isinstance(item, Record) for item in items)
    assert [item.position for item in items] == list(range(count))
    assert items[0].origin == "generated.jsonl:1"
    kinds = {type(item.event) for item in items if isinstance(item, Record)}
    assert kinds == {BehaviourEvent, ProfileUpdate}


def test_the_facade_names_the_same_objects_as_their_modules() -> None:
    homes = [errors, mapping, readers, tabular, timeparse]
    for name in sources.__all__:
        found = [getattr(home, name) for home in homes if hasattr(home, name)]
        assert found and all(thing is getattr(sources, name) for thing in found), name
