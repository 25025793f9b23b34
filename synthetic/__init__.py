"""The synthetic customer stream the demo, the tests and the benchmarks run on.

Not part of the engine: it makes events, with planted groups and their true labels,
for the engine to be measured against.
"""

from synthetic.generator import (
    DEFAULT_PERSONAS,
    DEFAULT_START_MS,
    INCOME_BANDS,
    Persona,
    Shift,
    customer_id,
    generate,
    labels,
    with_timing,
)

__all__ = [
    "DEFAULT_PERSONAS",
    "DEFAULT_START_MS",
    "INCOME_BANDS",
    "Persona",
    "Shift",
    "customer_id",
    "generate",
    "labels",
    "with_timing",
]
