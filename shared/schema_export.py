"""Writes the JSON Schema of every event into ``shared/schemas/`` (``make schemas``).

Operators read these files to know what is on each topic; a test fails when a
model changes and the committed schema was not regenerated.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.events import REGISTRY

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_files() -> dict[str, str]:
    """File name → content, for every registered event type and version."""
    out = {}
    for (event_type, version), cls in sorted(REGISTRY.items()):
        schema = cls.model_json_schema(mode="serialization")
        schema["$id"] = f"https://mailferry.dev/schemas/{event_type}.v{version}.json"
        schema["description"] = (cls.__doc__ or "").strip()
        out[f"{event_type}.v{version}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in schema_files().items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(schema_files())} schemas to {SCHEMA_DIR}")


if __name__ == "__main__":
    main()
