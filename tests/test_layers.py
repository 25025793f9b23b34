"""Every package imports only downward, and every package says what it exports.

The layers, bottom up: ``schemas`` (contracts, decoding) <- ``engine`` (pure) and
``settings`` <- ``brokers`` (Kafka clients, embedded broker) <- ``streams`` (the Faust
worker) and ``replay``, side by side <- ``cli``. ``synthetic`` (the generator) sits on
``schemas`` alone. Modules are parsed, not imported, and imports inside functions count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Package -> the first-party packages it may import (itself always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "engine": frozenset({"schemas"}),
    "synthetic": frozenset({"schemas"}),
    "settings": frozenset({"schemas"}),
    "brokers": frozenset({"schemas", "settings"}),
    "streams": frozenset({"schemas", "engine", "settings", "brokers"}),
    "replay": frozenset({"schemas", "engine", "settings", "brokers"}),
    "cli": frozenset(
        {"schemas", "engine", "synthetic", "settings", "brokers", "streams", "replay"}
    ),
    "bench": frozenset(
        {"schemas", "engine", "synthetic", "settings", "brokers", "streams", "replay", "cli"}
    ),
}
FIRST_PARTY = frozenset(ALLOWED) | {"tests"}


def first_party_imports(source: str) -> list[tuple[int, str]]:
    """``(line, package)`` of every first-party import in ``source``, nested ones too."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in FIRST_PARTY]
    return found


def violations(package: str) -> list[str]:
    allowed = ALLOWED[package] | {package}
    problems = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, imported in first_party_imports(path.read_text()):
            if imported not in allowed:
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {imported}")
    return problems


def test_every_package_of_the_tree_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} | {"bench"}
    assert packages - {"tests"} == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_downward(package: str) -> None:
    problems = violations(package)
    assert not problems, f"{package} reaches up or sideways:\n" + "\n".join(problems)


def test_streams_and_replay_stay_apart() -> None:
    assert "replay" not in ALLOWED["streams"] and "streams" not in ALLOWED["replay"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import engine.state", [(1, "engine")]),
        ("from streams.app import create_app", [(1, "streams")]),
        ("def f():\n    from replay import run", [(2, "replay")]),
        ("import os\nfrom collections import abc", []),
        ("from .model import x", []),
        ("import enginex", []),
    ],
)
def test_the_checker_sees_what_it_should(source: str, expected: list[tuple[int, str]]) -> None:
    assert first_party_imports(source) == expected


def isort_key(name: str) -> tuple[int, str]:
    """Ruff's ``__all__`` order (RUF022): CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return 0, name
    return (1, name) if name[:1].isupper() else (2, name)


def exported(init: Path) -> list[str] | None:
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            assert isinstance(node.value, ast.List | ast.Tuple)
            return [ast.literal_eval(item) for item in node.value.elts]
    return None


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_every_package_has_a_sorted_all(package: str) -> None:
    for init in sorted((ROOT / package).rglob("__init__.py")):
        name, names = init.relative_to(ROOT), exported(init)
        assert names is not None, f"{name} has no __all__"
        assert names == sorted(names, key=isort_key), f"{name}: __all__ is not sorted"
        assert len(set(names)) == len(names), f"{name}: __all__ repeats"
