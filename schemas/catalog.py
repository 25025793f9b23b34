"""The ``segment-catalog`` topic: every segment's current name, compacted by segment id.

A change on ``segment-changes`` names the segments as they were called when it was
decided. A learned segment's generated name follows its segment as it drifts, and a
model publication can retire a segment (its customers move at their next evaluation):
neither sends a change. Subscribers that show names read this topic instead: a record
per segment whenever its name or liveness changes, the latest per id being current.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.changes import SegmentRef

__all__ = ["SegmentCatalogEntry"]


class SegmentCatalogEntry(BaseModel):
    """One segment as the engine knows it now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: SegmentRef = Field(description="The segment's id, current name and kind.")
    live: bool = Field(
        description="Whether customers can enter it: rule segments always, a learned one"
        " while the published model has it."
    )
    merged_into: str | None = Field(
        None,
        description="A retired learned segment: the segment most of its customers went to"
        " (the lineage's merge).",
    )
    model_version: int = Field(ge=0, description="The model version this entry is as of.")
    emitted_at: AwareDatetime = Field(description="Wall-clock time the entry was sent.")

    @classmethod
    def example(cls) -> SegmentCatalogEntry:
        """A learned segment renamed as its centroid drifted.

        >>> SegmentCatalogEntry.example().segment.name
        'lapsed big spenders'
        """
        ref = SegmentRef(id="seg-3", name="lapsed big spenders", kind="learned")
        return cls(segment=ref, live=True, model_version=12,
                   emitted_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"))  # fmt: skip
