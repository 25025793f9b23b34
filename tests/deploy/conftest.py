"""Fixtures for the deploy/ tests: Debian's ``promtool``, skipped when missing outside CI."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import need


@pytest.fixture
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        need("promtool (apt-get install prometheus)")
    assert binary is not None
    return binary
