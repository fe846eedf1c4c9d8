"""Operator keys: only digests configured, every entry checked, malformed entries named."""

from __future__ import annotations

import hashlib

import pytest

from shared import operator_keys as ok
from shared.config import ConfigError, Settings


def test_a_new_key_is_found_by_its_entry_and_nothing_else_is() -> None:
    key, entry = ok.new_key("ops", "operator")
    viewer, viewer_entry = ok.new_key("dash", "read-only")
    keys = ok.parse(f" {entry} ,{viewer_entry},")
    assert entry.split(":")[2] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in entry
    found = ok.find(keys, key)
    assert found is not None and (found.name, found.role) == ("ops", "operator")
    assert ok.find(keys, viewer) == ok.OperatorKey("dash", "read-only", viewer_entry.split(":")[2])
    assert ok.find(keys, key[:-1]) is None
    assert ok.find(keys, "") is None
    assert ok.find(keys, key + "x" * 300) is None
    assert ok.find((), key) is None


@pytest.mark.parametrize(("text", "says"), [
    ("ops:admin:" + "0" * 64, "role"),
    ("ops:operator:" + "0" * 63, "64 hex"),
    ("ops:operator:" + "g" * 64, "64 hex"),
    ("o ps:operator:" + "0" * 64, "name"),
    ("ops:operator", "name:role"),
    (f"ops:operator:{'0' * 64},ops:read-only:{'1' * 64}", "twice"),
])
def test_a_malformed_entry_is_refused_with_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        ok.parse(text)
    with pytest.raises(ConfigError, match="MAILFERRY_OPERATOR_KEYS"):
        Settings.from_env({"MAILFERRY_OPERATOR_KEYS": text})


def test_settings_hold_no_key_by_default_and_never_show_one() -> None:
    assert Settings.from_env({}).operator_keys == ()
    key, entry = ok.new_key("ops", "operator")
    s = Settings.from_env({"MAILFERRY_OPERATOR_KEYS": entry, "MAILFERRY_PROJECT_RETENTION_DAYS": "7"})
    assert s.operator_keys[0].name == "ops" and key not in repr(s)
    assert s.project_retention_days == 7
    with pytest.raises(ConfigError, match="MAILFERRY_PROJECT_RETENTION_DAYS"):
        Settings.from_env({"MAILFERRY_PROJECT_RETENTION_DAYS": "0"})
