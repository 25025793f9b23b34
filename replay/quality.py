"""Agreement with planted or reference labels: the adjusted Rand index."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.special import comb

from replay.sources import SourceError


def adjusted_rand_index(a: Sequence[str], b: Sequence[str]) -> float:
    """Hubert and Arabie's ARI: 1 for the same partition, about 0 for chance.

    >>> adjusted_rand_index(["x", "x", "y", "y"], ["1", "1", "2", "2"])
    1.0
    >>> round(adjusted_rand_index(["x", "x", "y", "y"], ["1", "2", "1", "2"]), 3)
    -0.5
    """
    if len(a) != len(b):
        raise ValueError("label sequences differ in length")
    n = len(a)
    if n < 2:
        return 1.0
    _, ia = np.unique(np.asarray(a), return_inverse=True)
    _, ib = np.unique(np.asarray(b), return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1)
    pairs = float(comb(table, 2).sum())
    rows, cols = float(comb(table.sum(1), 2).sum()), float(comb(table.sum(0), 2).sum())
    expected = rows * cols / float(comb(n, 2))
    best = (rows + cols) / 2
    return 1.0 if best == expected else (pairs - expected) / (best - expected)


def read_labels(path: Path) -> dict[str, str]:
    """``customer_id,segment`` rows (as ``segment-engine generate --labels`` writes)."""
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise SourceError(f"--labels {path}: {exc.strerror or exc}") from None
    if rows and not {"customer_id", "segment"} <= rows[0].keys():
        raise SourceError(f"--labels {path}: needs the columns customer_id and segment")
    return {row["customer_id"]: row["segment"] for row in rows}


def ari_against(assigned: Mapping[str, str], truth: Mapping[str, str]) -> float | None:
    """ARI over the customers both sides know; None when fewer than two."""
    common = sorted(set(assigned) & set(truth))
    if len(common) < 2:
        return None
    return adjusted_rand_index([assigned[c] for c in common], [truth[c] for c in common])
