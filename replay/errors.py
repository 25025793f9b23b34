"""The replay area's error types: problems with an input as a whole, said in one line."""

from __future__ import annotations

__all__ = ["SourceError"]


class SourceError(ValueError):
    """The input cannot be read at all; the message names the problem in one line."""
