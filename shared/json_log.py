"""JSON log lines with the migration ID, and secrets redacted by the logger itself.

Redaction does not rely on callers being careful: values registered with
:func:`register_secret` are masked wherever they appear in a line, and any
field whose name says it holds a secret is masked whatever its value.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from shared.wire_text import INVISIBLE_CLASS

_SECRET_FIELD_WORDS = ("password", "secret", "token", "credential", "sealed")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_secrets: set[str] = set()
_lock = threading.Lock()
MASK = "***"


def register_secret(value: str) -> None:
    """Mask this value in every later log line (e.g. a password just unsealed)."""
    if value and len(value) >= 4:
        with _lock:
            if len(_secrets) > 10_000:
                _secrets.clear()
            _secrets.add(value)
            # Lines are redacted after JSON encoding: also mask the escaped spellings.
            _secrets.add(json.dumps(value)[1:-1])
            _secrets.add(json.dumps(value, ensure_ascii=False)[1:-1])


def forget_secret(value: str) -> None:
    with _lock:
        for v in (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
            _secrets.discard(v)


def redact(text: str) -> str:
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for v in values:
        if v in text:
            text = text.replace(v, MASK)
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "migration_id": getattr(record, "migration_id", None),
        }
        for k, v in record.__dict__.items():
            if k in _STANDARD or k in line:
                continue
            line[k] = MASK if any(w in k.lower() for w in _SECRET_FIELD_WORDS) else v
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return shown_escaped(redact(json.dumps(line, default=str, ensure_ascii=False)))


#: What a log line never carries as it is (JSON lets them stand): the Unicode line and paragraph separators, which
#: some viewers break a line at (a forged second line), and the invisible and text-direction characters, which make
#: a name show as another (``U+202E``). From the text of mail (subjects, folder names) or a request. Escaped after
#: redaction, so a secret holding one is masked in every spelling first.
_UNSEEN = re.compile(f"[\u2028\u2029{INVISIBLE_CLASS}]")


def shown_escaped(text: str) -> str:
    """``text`` (JSON) with :data:`_UNSEEN` characters as ``\\uXXXX`` escapes: the same JSON, read back."""
    return _UNSEEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def setup(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("imapclient", "uvicorn.access", "httpx", "exchangelib", "msal"):
        logging.getLogger(noisy).setLevel("WARNING")
