"""The fuzz targets hold on their seed corpus, without atheris: the targets stay runnable,
and an input a fuzzing run found (added to the seeds once fixed) stays fixed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schemas.decode import Rejected, decode
from schemas.events import allowed_types_context
from tests.fuzz.run import CORPUS
from tests.fuzz.targets import TARGETS

SEEDS = sorted(path for path in CORPUS.glob("*/*") if path.is_file())


def test_every_target_has_seeds_and_every_seed_a_target() -> None:
    assert sorted({path.parent.name for path in SEEDS}) == sorted(TARGETS)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_a_target_holds_on_its_seed(seed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):  # the settings target reads SEGMENT_ENGINE_* too
        if name.startswith("SEGMENT_ENGINE_"):
            monkeypatch.delenv(name)
    TARGETS[seed.parent.name](seed.read_bytes())
    TARGETS[seed.parent.name](seed.read_bytes()[:-1])  # cut short by a byte


def test_the_decode_seeds_are_events() -> None:
    # The first byte picks the source (and the key's length): see targets.check_decode.
    sources = {8: "profiles", 9: "behaviour", 10: "erasures"}
    accepted = 0
    for seed in sorted((CORPUS / "decode").iterdir()):
        data = seed.read_bytes()
        result = decode(sources[data[0]], data[1:3], data[3:], allowed_types_context())
        accepted += not isinstance(result, Rejected)
    assert accepted == 3
