"""The committed JSON Schemas are exactly the contracts, and up to date."""

from __future__ import annotations

import pytest

from schemas.export import CONTRACTS, JSON_DIR, render


def test_committed_schema_files_are_exactly_the_contracts() -> None:
    committed = {path.name for path in JSON_DIR.glob("*.json")}
    assert committed == {f"{name}.schema.json" for name in CONTRACTS}


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_committed_schema_equals_the_model(name: str) -> None:
    committed = (JSON_DIR / f"{name}.schema.json").read_text()
    assert committed == render(CONTRACTS[name]), (
        f"schemas/json/{name}.schema.json is stale: run python -m schemas.export"
    )
