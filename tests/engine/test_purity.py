"""``engine/`` is pure: no Kafka, Faust, metrics, environment, network, processes or clock.

Every module under ``engine/`` is parsed (not imported) and its imports and attribute
uses are checked, so a forbidden dependency fails here even if nothing calls it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import engine

ENGINE_DIR = Path(engine.__file__).parent
FORBIDDEN_MODULES = frozenset(
    {
        "faust",
        "mode",
        "aiokafka",
        "kafka",
        "prometheus_client",
        "os",
        "socket",
        "subprocess",
        "asyncio",
        "time",
        "urllib",
    }
)
# Qualified names whose use reads the wall clock.
FORBIDDEN_CALLS = frozenset(
    {
        "datetime.now",
        "datetime.utcnow",
        "date.today",
        "time.time",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.date.today",
    }
)


def modules() -> dict[str, Path]:
    """Dotted name of every module under ``engine/``, including subpackages."""
    out = {}
    for path in sorted(ENGINE_DIR.rglob("*.py")):
        parts = path.relative_to(ENGINE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def violations(source: str, module: str) -> list[str]:
    """``module:line: what`` for every forbidden import or clock read in ``source``."""
    tree = ast.parse(source)
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> qualified name, for clock checks
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.name.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"{module}:{node.lineno}: import {name.name}")
                aliases[name.asname or name.name.split(".")[0]] = (
                    name.name if name.asname else name.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{module}:{node.lineno}: from {node.module} import ...")
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = dotted(node)
            if name is None:
                continue
            head, _, rest = name.partition(".")
            qualified = f"{aliases.get(head, head)}.{rest}" if rest else name
            for candidate in {name, qualified}:
                if candidate in FORBIDDEN_CALLS:
                    found.append(f"{module}:{node.lineno}: {name}")
                    break
    return found


def test_the_walk_covers_every_engine_module() -> None:
    found = modules()
    assert {"engine", "engine.segment_engine", "engine.state", "engine.segmenter"} <= set(found)
    assert len(found) == len(list(ENGINE_DIR.rglob("*.py")))


def test_engine_modules_are_pure() -> None:
    problems = [
        problem
        for module, path in modules().items()
        for problem in violations(path.read_text(), module)
    ]
    assert not problems, "engine/ must stay pure:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os", ["m:1: import os"]),
        ("import os.path as p", ["m:1: import os.path"]),
        ("\nfrom kafka.admin import NewTopic", ["m:2: from kafka.admin import ..."]),
        ("import prometheus_client", ["m:1: import prometheus_client"]),
        ("from urllib.request import urlopen", ["m:1: from urllib.request import ..."]),
        ("import asyncio, socket", ["m:1: import asyncio", "m:1: import socket"]),
        ("from datetime import datetime\nx = datetime.now()", ["m:2: datetime.now"]),
        ("import datetime\nx = datetime.datetime.utcnow()", ["m:2: datetime.datetime.utcnow"]),
        ("from datetime import date as d\nx = d.today()", ["m:2: d.today"]),
        ("import time\nt = time.time()", ["m:1: import time", "m:2: time.time"]),
        ("from datetime import datetime\nx = datetime.fromtimestamp(0)", []),
        ("import random\nimport math\nfrom river import cluster", []),
        ("from .state import x", []),
        ("import timeit", []),
    ],
)
def test_the_checker_catches_what_it_should(source: str, expected: list[str]) -> None:
    assert sorted(violations(source, "m")) == sorted(expected)
