"""Output contract: drift was detected in what the model learns from or in segment sizes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas._types import Identifier

Detector = Literal["adwin", "page_hinkley", "psi", "js", "conversion_drop"]


class DriftDetected(BaseModel):
    """Published on ``segment-drift`` when a detector fires.

    ``subject`` is a feature name, ``segment_sizes`` for the share of customers in
    each segment, or an input-drift subject of one input partition: ``event_mix:p<N>``
    (the share of each event type in a day, PSI and JS) or ``funnel:p<N>`` (a day's
    funnel step conversion, ``conversion_drop``). ``drift_id`` is derived from the
    input, so a replay yields the same id.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    drift_id: Identifier
    detector: Detector
    subject: str
    score: float = Field(allow_inf_nan=False, description="The detector's statistic.")
    threshold: float = Field(allow_inf_nan=False, description="Score at which it fires.")
    detected_at: datetime = Field(description="Event time of the detection.")
    since: datetime | None = Field(
        None, description="Event time the changed stretch began, as far as the detector knows."
    )
    model_version: int = Field(ge=0)
    emitted_at: datetime = Field(description="Wall-clock time it was published.")
