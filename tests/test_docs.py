"""The contributor docs point at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A backticked repository path: a known top-level folder, then a file or folder name.
PATH = re.compile(
    r"`((?:schemas|engine|settings|brokers|streams|replay|synthetic|cli|bench|deploy|tests)"
    r"/[\w./-]*)`"
)


def paths_in(text: str) -> list[str]:
    return PATH.findall(text)


@pytest.mark.parametrize("doc", ["CONTRIBUTING.md", "README.md"])
def test_every_path_a_doc_names_exists(doc: str) -> None:
    named = paths_in((ROOT / doc).read_text())
    assert named, f"{doc} names no paths: the pattern is wrong"
    missing = sorted({p for p in named if not (ROOT / p.rstrip("/")).exists()})
    assert not missing, f"{doc} names paths that do not exist: {missing}"


def test_the_pattern_finds_paths_and_only_paths() -> None:
    text = "see `engine/drift/base.py`, `replay/`, `make test` and `schemas.config`"
    assert paths_in(text) == ["engine/drift/base.py", "replay/"]
