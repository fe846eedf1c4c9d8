"""The committed JSON Schemas are exactly what the event models say (run `make schemas` after a change)."""

from __future__ import annotations

from shared.schema_export import SCHEMA_DIR, schema_files


def test_committed_schemas_match_the_models() -> None:
    expected = schema_files()
    assert expected, "no events registered"
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert set(committed) == set(expected)
    for name, text in expected.items():
        assert committed[name] == text, f"{name} is stale: run `make schemas`"
