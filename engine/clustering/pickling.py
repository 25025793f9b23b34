"""Pickling whose bytes depend on the values pickled alone, for snapshots.

Pickle writes an object it meets twice once and refers back to it, but two equal
strings twice; and unpickling does not give back which equal strings were one object
(it interns attribute names, for one). A part restored from a snapshot would then
pickle to other bytes than the part the snapshot was taken from, though both hold
the same values. Here every string is written as the first equal one met, so equal
strings are always shared: the same values give the same bytes. Numpy arrays are
kept as lists, for the same reason: an unpickled array has its own copy of its
dtype, where computed ones share numpy's.

>>> a, b = "seg-" + str(1), "seg-" + str(1)  # equal, but two objects
>>> dumps([a, b]) == dumps([a, a])
True
>>> loads(dumps({"ids": (a, b)}))
{'ids': ('seg-1', 'seg-1')}
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["dumps", "loads", "plain_array"]


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._strings: dict[str, str] = {}

    def persistent_id(self, obj: Any) -> str | None:
        return self._strings.setdefault(obj, obj) if type(obj) is str else None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> str:
        if type(pid) is not str:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return pid


def dumps(obj: Any) -> bytes:
    """``obj`` pickled, equal strings written once."""
    buffer = io.BytesIO()
    _Pickler(buffer).dump(obj)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """The object :func:`dumps` pickled."""
    return _Unpickler(io.BytesIO(data)).load()


def plain_array(values: Sequence[Any]) -> np.ndarray:
    """An array of floats from (nested) lists, with numpy's own float64 dtype.

    >>> plain_array([[1.0, 2.0]]).dtype is np.array([0.0]).dtype
    True
    """
    return np.array(values, dtype=np.float64)
