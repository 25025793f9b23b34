"""The planted truth: which persona each customer of a stream belongs to, and its id.

A customer's persona (before and after a :class:`~synthetic.personas.Shift`) is drawn
from its own seed, ``(seed, customer, "assign")``, so :func:`labels` answers without
generating the stream, and the generator draws the same.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from synthetic.personas import DEFAULT_PERSONAS, Persona, Shift

__all__ = ["assign", "check_personas", "customer_id", "labels"]


def customer_id(index: int, customers: int) -> str:
    """Id of customer ``index`` of ``customers``: ``c`` and at least six digits.

    >>> customer_id(123, 1000)
    'c000123'
    """
    return f"c{index:0{max(6, len(str(customers - 1)))}d}"


def check_personas(personas: Sequence[Persona], shift: Shift | None) -> dict[str, Persona]:
    by_name = {p.name: p for p in personas}
    if not personas or len(by_name) != len(personas):
        raise ValueError("need at least one persona, with unique names")
    if shift is not None and not {shift.from_persona, shift.to_persona} <= by_name.keys():
        raise ValueError(f"shift names unknown personas; known: {sorted(by_name)}")
    return by_name


def assign(
    rng: random.Random, seed: int, index: int, personas: Sequence[Persona], shift: Shift | None
) -> tuple[Persona, Persona, float, float]:
    """Planted persona before and after the shift, and window jitters, of one customer."""
    rng.seed(f"{seed}:{index}:assign")
    before = rng.choices(personas, weights=[p.weight for p in personas])[0]
    switch = rng.random()  # drawn with or without a shift: labels before it never change
    jitters = (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1))
    after = before
    if shift is not None and before.name == shift.from_persona and switch < shift.share:
        after = next(p for p in personas if p.name == shift.to_persona)
    return before, after, *jitters


def labels(
    customers: int,
    seed: int,
    personas: Sequence[Persona] = DEFAULT_PERSONAS,
    shift: Shift | None = None,
    after_shift: bool = True,
) -> dict[str, str]:
    """Planted persona name of every customer of :func:`generate` with the same arguments.

    Parameters
    ----------
    after_shift
        Label a switched customer with the persona it ends with (default), else with
        the one it starts with; both are the same for everyone else.

    Examples
    --------
    >>> labels(3, seed=7)
    {'c000000': 'new_visitors', 'c000001': 'high_value_loyal', 'c000002': 'window_shoppers'}
    """
    check_personas(personas, shift)
    rng = random.Random()
    out = {}
    for i in range(customers):
        before, after, _, _ = assign(rng, seed, i, personas, shift)
        out[customer_id(i, customers)] = (after if after_shift else before).name
    return out
