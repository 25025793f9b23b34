"""``psi`` and ``js_divergence``: zero on identical shares, bounded, known values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.drift import js_divergence, psi

# -- psi and js_divergence -----------------------------------------------------

PROBABILITIES = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12).filter(
    lambda xs: sum(xs) > 0.01
)


def normalised(xs: list[float]) -> list[float]:
    total = sum(xs)
    return [x / total for x in xs]


@given(PROBABILITIES)
def test_identical_shares_diverge_by_nothing(xs: list[float]) -> None:
    p = normalised(xs)
    assert psi(p, p) == 0.0
    assert js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)


@given(st.data())
def test_divergences_are_bounded_and_js_symmetric(data: st.DataObject) -> None:
    xs = data.draw(PROBABILITIES)
    ys = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(xs), max_size=len(xs)))
    p, q = normalised(xs), normalised([y + 1e-3 for y in ys])
    assert 0.0 <= js_divergence(p, q) <= 1.0
    assert js_divergence(p, q) == pytest.approx(js_divergence(q, p), abs=1e-12)
    assert psi(p, q) >= 0.0 and math.isfinite(psi(p, q))


@pytest.mark.parametrize(
    ("p", "q", "want_psi", "want_js"),
    [
        ([0.5, 0.5], [0.5, 0.5], 0.0, 0.0),
        ([0.5, 0.5], [0.25, 0.75], 0.274653, 0.048794),
        ([0.25, 0.75], [0.5, 0.5], 0.274653, 0.048794),  # PSI is symmetric too
        ([0.1] * 10, [0.2] * 5 + [0.0] * 5, 3.796997, 0.311278),  # half the bins emptied
        ([1.0, 0.0], [0.0, 1.0], 2 * 0.9999 * math.log(1e4), 1.0),  # disjoint: epsilon
    ],
)
def test_known_values(p: list[float], q: list[float], want_psi: float, want_js: float) -> None:
    assert psi(p, q) == pytest.approx(want_psi, abs=1e-5)
    assert js_divergence(p, q) == pytest.approx(want_js, abs=1e-5)


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        psi([0.5, 0.5], [1.0])
    with pytest.raises(ValueError):
        js_divergence([0.5, 0.5], [1.0])
