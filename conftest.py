"""Loaded by every pytest run in the repository, the doctests of ``engine/`` included."""

import pytest

from cli.compiled import stale_engine_message


def pytest_sessionstart(session: pytest.Session) -> None:
    message = stale_engine_message()
    if message:
        pytest.exit(message, returncode=4)
