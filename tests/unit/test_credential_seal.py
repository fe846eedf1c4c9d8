"""Sealing credentials: round trips, bound contexts, rotation, and crypto-shredding."""

from __future__ import annotations

import base64

import pytest

from shared.credential_seal import MasterKeys, generate_master_key, new_data_key, seal, unseal
from shared.errors import SecretUnavailable


def test_seal_round_trip_and_fresh_nonce() -> None:
    key = new_data_key()
    a, b = seal(key, "pässwörd \" \\ 🔑", "mid/source"), seal(key, "pässwörd \" \\ 🔑", "mid/source")
    assert a != b  # a fresh nonce each time
    assert "pässwörd" not in a
    assert unseal(key, a, "mid/source") == unseal(key, b, "mid/source") == "pässwörd \" \\ 🔑"


def test_empty_password_round_trips() -> None:
    key = new_data_key()
    assert unseal(key, seal(key, "", "c"), "c") == ""


@pytest.mark.parametrize("how", ["context", "key", "tampered", "garbage", "empty"])
def test_unseal_refuses_what_does_not_match(how: str) -> None:
    key = new_data_key()
    sealed = seal(key, "hunter2", "mid/source")
    nonce, _, ct = sealed.partition(".")
    args = {
        "context": (key, sealed, "mid/target"),
        "key": (new_data_key(), sealed, "mid/source"),
        "tampered": (key, f"{nonce}.{'A' if ct[0] != 'A' else 'B'}{ct[1:]}", "mid/source"),
        "garbage": (key, "not-sealed-at-all", "mid/source"),
        "empty": (key, "", "mid/source"),
    }[how]
    with pytest.raises(SecretUnavailable) as info:
        unseal(*args)
    assert "hunter2" not in str(info.value)


def test_master_keys_wrap_and_unwrap_bound_to_the_migration() -> None:
    keys = MasterKeys.parse(generate_master_key("k1"))
    data_key = new_data_key()
    wrapped = keys.wrap(data_key, "mig-1")
    assert wrapped.startswith("k1.")
    assert keys.unwrap(wrapped, "mig-1") == data_key
    with pytest.raises(SecretUnavailable):
        keys.unwrap(wrapped, "mig-2")


def test_rotation_first_key_wraps_older_keys_still_unwrap() -> None:
    old_text = generate_master_key("old")
    old = MasterKeys.parse(old_text)
    wrapped_old = old.wrap(b"d" * 32, "m")
    rotated = MasterKeys.parse(f"{generate_master_key('new')}, {old_text}")
    assert rotated.current == "new"
    assert set(rotated.keys) == {"new", "old"}
    assert rotated.unwrap(wrapped_old, "m") == b"d" * 32
    assert rotated.wrap(b"e" * 32, "m").startswith("new.")


def test_unknown_key_id_is_secret_unavailable_and_names_it() -> None:
    wrapped = MasterKeys.parse(generate_master_key("gone")).wrap(new_data_key(), "m")
    with pytest.raises(SecretUnavailable, match="gone"):
        MasterKeys.parse(generate_master_key("k2")).unwrap(wrapped, "m")


def test_crypto_shredding_without_the_data_key_nothing_unseals() -> None:
    data_key = new_data_key()
    sealed = seal(data_key, "hunter2", "m/source")
    with pytest.raises(SecretUnavailable):
        unseal(new_data_key(), sealed, "m/source")


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    (" , ", "empty"),
    ("no-colon", "kid:base64key"),
    (":" + base64.b64encode(b"k" * 32).decode(), "kid:base64key"),
    ("k1:***", "not valid base64"),
    ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
])
def test_master_key_parse_errors(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        MasterKeys.parse(text)


def test_master_keys_repr_hides_the_keys() -> None:
    text = generate_master_key("k1")
    keys = MasterKeys.parse(text)
    assert text.split(":", 1)[1] not in repr(keys)
    assert repr(keys.keys["k1"]) not in repr(keys)


def test_generated_master_key_is_32_bytes() -> None:
    kid, _, b64 = generate_master_key("abc").partition(":")
    assert kid == "abc" and len(base64.b64decode(b64)) == 32
    assert len(new_data_key()) == 32
