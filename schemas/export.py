"""Write the JSON Schema of every contract under ``schemas/json/``.

Run ``python -m schemas.export`` after changing a model; a test fails while the
committed files differ from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.catalog import SegmentCatalogEntry
from schemas.changes import SegmentChange
from schemas.config import EngineConfig
from schemas.drift import DriftDetected
from schemas.events import BehaviourEvent, ErasureRequest, ProfileUpdate
from schemas.memberships import CustomerSegments

CONTRACTS: dict[str, type[BaseModel]] = {
    "behaviour_event": BehaviourEvent,
    "customer_segments": CustomerSegments,
    "drift_detected": DriftDetected,
    "engine_config": EngineConfig,
    "erasure_request": ErasureRequest,
    "profile_update": ProfileUpdate,
    "segment_catalog_entry": SegmentCatalogEntry,
    "segment_change": SegmentChange,
}
JSON_DIR = Path(__file__).parent / "json"


def render(model: type[BaseModel]) -> str:
    """The committed text of one model's JSON Schema."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    JSON_DIR.mkdir(exist_ok=True)
    for name, model in CONTRACTS.items():
        (JSON_DIR / f"{name}.schema.json").write_text(render(model))
    print(f"wrote {len(CONTRACTS)} schemas to {JSON_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
