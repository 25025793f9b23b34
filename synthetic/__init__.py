"""The synthetic customer stream the demo, the tests and the benchmarks run on.

Not part of the engine: it makes events, with planted groups and their true labels,
for the engine to be measured against. ``personas`` holds the planted groups and the
shift, ``truth`` who belongs to which, ``sessions`` what one arrival becomes, and
``generator`` the stream itself.
"""

from synthetic.generator import generate
from synthetic.personas import (
    DEFAULT_PERSONAS,
    DEFAULT_START_MS,
    INCOME_BANDS,
    InputShift,
    Persona,
    Shift,
    with_timing,
)
from synthetic.truth import customer_id, labels

__all__ = [
    "DEFAULT_PERSONAS",
    "DEFAULT_START_MS",
    "INCOME_BANDS",
    "InputShift",
    "Persona",
    "Shift",
    "customer_id",
    "generate",
    "labels",
    "with_timing",
]
