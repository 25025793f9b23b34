"""The planted truth: persona shares follow the weights; a shift moves its share only."""

from __future__ import annotations

from collections import Counter

import pytest

from synthetic import DEFAULT_PERSONAS, Shift, labels


def test_persona_shares_follow_the_weights() -> None:
    shares = Counter(labels(20_000, 5).values())
    total = sum(p.weight for p in DEFAULT_PERSONAS)
    for persona in DEFAULT_PERSONAS:
        assert shares[persona.name] / 20_000 == pytest.approx(persona.weight / total, abs=0.015)


def test_the_shift_moves_a_share_of_customers() -> None:
    shift = Shift(at_fraction=0.5, from_persona="window_shoppers", to_persona="high_value_loyal",
                  share=0.4)  # fmt: skip
    before = labels(6000, 2, shift=shift, after_shift=False)
    after = labels(6000, 2, shift=shift)
    assert before == labels(6000, 2)
    moved = [c for c in before if before[c] != after[c]]
    shoppers = [c for c in before if before[c] == "window_shoppers"]
    assert {(before[c], after[c]) for c in moved} == {("window_shoppers", "high_value_loyal")}
    assert len(moved) / len(shoppers) == pytest.approx(0.4, abs=0.05)
