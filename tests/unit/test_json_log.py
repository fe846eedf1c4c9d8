"""JSON log lines: one object per line, migration_id, and secrets redacted by the logger itself."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from shared import json_log
from shared.json_log import MASK, JsonFormatter, forget_secret, redact, register_secret


@pytest.fixture
def secrets() -> Iterator[list[str]]:
    """Register secrets through this list; they are forgotten afterwards (the set is global)."""
    registered: list[str] = []
    yield registered
    for s in registered:
        forget_secret(s)


def remember(secrets: list[str], value: str) -> None:
    secrets.append(value)
    register_secret(value)


def line(msg: str, *args: object, exc: bool = False, **extra: Any) -> dict[str, Any]:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(msg % args if args else msg)
        except RuntimeError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("mailferry.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    text = JsonFormatter("loader").format(record)
    assert "\n" not in text
    out: dict[str, Any] = json.loads(text)
    return out


def test_a_line_is_json_with_the_envelope() -> None:
    out = line("copied %d of %s", 3, "INBOX", migration_id="mid-1", folder="INBOX")
    assert out["msg"] == "copied 3 of INBOX"
    assert out["level"] == "warning" and out["service"] == "loader" and out["logger"] == "mailferry.test"
    assert out["migration_id"] == "mid-1"
    assert out["folder"] == "INBOX"
    assert out["ts"].endswith("+00:00")


def test_migration_id_is_always_present() -> None:
    assert line("hello")["migration_id"] is None


def test_registered_secret_is_masked_everywhere(secrets: list[str]) -> None:
    remember(secrets, "hunter2-xyz")
    out = line("login as bob with hunter2-xyz", exc=True, detail="pw=hunter2-xyz;", nested={"a": "hunter2-xyz"})
    text = json.dumps(out)
    assert "hunter2-xyz" not in text
    assert out["msg"] == f"login as bob with {MASK}"
    assert out["detail"] == f"pw={MASK};"
    assert MASK in out["exc"]


def test_longer_secret_masked_before_a_shorter_one_inside_it(secrets: list[str]) -> None:
    remember(secrets, "abcd")
    remember(secrets, "abcdefgh")
    assert redact("x abcdefgh y abcd") == f"x {MASK} y {MASK}"


def test_short_values_are_not_registered(secrets: list[str]) -> None:
    remember(secrets, "abc")
    remember(secrets, "")
    assert redact("abc") == "abc"


def test_forget_secret(secrets: list[str]) -> None:
    register_secret("temporary-secret")
    assert redact("temporary-secret") == MASK
    forget_secret("temporary-secret")
    assert redact("temporary-secret") == "temporary-secret"


@pytest.mark.parametrize("field", ["password", "db_password", "Password_Sealed", "access_token", "tokenValue",
                                   "client_secret", "credentials"])
@pytest.mark.parametrize("value", ["plain", "", 1234, None, ["a", "b"], {"k": "v"}])
def test_fields_named_like_secrets_are_masked_whatever_their_value(field: str, value: object) -> None:
    out = line("x", **{field: value})
    assert out[field] == MASK


def test_ordinary_fields_are_kept() -> None:
    out = line("x", login="bob", count=3, items=["a"])
    assert (out["login"], out["count"], out["items"]) == ("bob", 3, ["a"])


def test_non_ascii_and_odd_values_do_not_break_a_line() -> None:
    out = line("Grüße %s", "Köln", subject=b"\xff", when=object())
    assert out["msg"] == "Grüße Köln"
    assert isinstance(out["subject"], str) and isinstance(out["when"], str)


@pytest.mark.parametrize("secret", ['pa"ss-word', "back\\slash-pw", "tab\tpassword"])
def test_secret_with_json_escaped_characters_is_masked(secrets: list[str], secret: str) -> None:
    remember(secrets, secret)
    out = line("login failed for password %s", secret)
    assert secret not in out["msg"]


def test_setup_installs_one_json_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        json_log.setup("tracker", "DEBUG")
        json_log.setup("tracker", "DEBUG")
        assert len(root.handlers) == 1
        logging.getLogger("x").info("hi", extra={"migration_id": "m"})
        err = capsys.readouterr().err.strip().splitlines()
        assert json.loads(err[-1])["service"] == "tracker"
        assert logging.getLogger("imapclient").level == logging.WARNING
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_line_separators_and_invisible_characters_are_escaped_not_shown(secrets: list[str]) -> None:
    """Found in a hostile review: text from a mail or a request (a subject, a folder name) went into the line as it
    was, JSON allowing it: U+2028 broke the line in viewers that read it as one (a forged line after it), U+202E
    showed what followed backwards. Now escaped; the line reads back the same, and a secret holding one is still
    masked."""
    remember(secrets, "pw\u202esecret")
    text = "subject \u202eevil\u2028forged\u2029line \u200b\ufeff end ü"
    record = logging.LogRecord("mailferry.test", logging.WARNING, __file__, 1, "%s %s", (text, "pw\u202esecret"), None)
    shown = JsonFormatter("loader").format(record)
    for char in "\u202e\u2028\u2029\u200b\ufeff":
        assert char not in shown, repr(char)
    assert "\\u2028" in shown and "ü" in shown  # other letters stay readable
    assert json.loads(shown)["msg"] == f"{text} {MASK}"
