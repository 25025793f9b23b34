"""Drift watch: is what the model learns from, or how customers spread over segments,
still like it was when the model settled?

Two kinds of evidence on the model's own (log-scaled) view of each lesson, and one on
the input itself:

- **change detectors** (River's ADWIN and Page-Hinkley), one per watched feature, fed
  every lesson from the reference delay on, in units of the reference's standard
  deviation (so one threshold means the same for every feature; the reference's own
  lessons are replayed into them once it is complete). They report the moment they
  fire, with where the change began (a CUSUM's last zero, or Page-Hinkley's own).
- **divergences** of a sliding *current* window of the latest lessons from a frozen
  *reference* window (the first lessons after ``reference_delay_ms``, when the windowed
  features have filled: ``reference_size`` of them, or as many as came, at least
  ``reference_min_size``, by ``reference_max_seconds`` after the delay): the
  population stability index and the Jensen-Shannon divergence over the reference's
  quantile bins, and the same two measures over the share of customers in each
  segment. They are read at each sweep, so they make a daily timeline as well as
  detections (crossing the alert level upwards, re-armed when the score falls back
  low enough).
- **input drift** (:class:`InputMix`): per input partition and day of event time, the
  share of each event type (PSI, JS) and the funnel's step conversion (view -> cart
  -> checkout -> purchase, a significant relative drop) against the partition's
  previous ``input_reference_days`` days, scored as each day closes.

Pure and deterministic, and bounded: two windows of ``reference_size`` values per
feature, a few numbers per detector, and ``input_reference_days`` days of counts per
event type and input partition, whatever the number of customers.

The modules: ``monitor`` (:class:`DriftMonitor`, the entry point), ``watch`` (one
feature's state), ``base`` (the :class:`ChangeDetector` protocol), ``adwin`` and
``page_hinkley`` (one detector each), ``registry`` (:data:`DETECTORS`, by config
name), ``divergence`` (PSI, JS, quantile bins, the alert arm), ``inputs``
(:class:`InputMix`, input drift), ``reading``
(:class:`DriftReading`) and ``river_compat`` (the only reader of River's internals).
"""

from __future__ import annotations

from engine.drift.adwin import AdwinDetector, adwin_bound
from engine.drift.base import ChangeDetector, DetectorFactory
from engine.drift.divergence import EPSILON, js_divergence, psi
from engine.drift.inputs import InputMix
from engine.drift.monitor import SEGMENT_SIZES, DriftMonitor
from engine.drift.page_hinkley import PageHinkleyDetector
from engine.drift.reading import DriftReading
from engine.drift.registry import DETECTORS

__all__ = [
    "DETECTORS",
    "EPSILON",
    "SEGMENT_SIZES",
    "AdwinDetector",
    "ChangeDetector",
    "DetectorFactory",
    "DriftMonitor",
    "DriftReading",
    "InputMix",
    "PageHinkleyDetector",
    "adwin_bound",
    "js_divergence",
    "psi",
]
