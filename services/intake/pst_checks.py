"""What a PST upload is checked against, and the answer for each way it can fail.

Every failure is raised as ``Refused``, which says what the user is told (status, code, message,
the field at fault); the upload's flow (pst_upload.py) turns it into the response, counts its outcome
and discards the spool file. Nothing here knows the web framework. The text
fields are checked like ``POST /api/v1/migrations`` checks its JSON body, so both ways in refuse the
same things with the same messages.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from services.intake.api_models import Endpoint
from shared import json_log
from shared.adapters import registry
from shared.errors import FileRefused
from shared.wire_text import is_single_address

log = logging.getLogger("services.intake.pst_upload")  # the upload's log, wherever the check is made


class Refused(Exception):
    """The request is refused with this error (the upload, if any, is discarded). ``outcome`` labels
    the request metric; it is the code unless said otherwise."""

    def __init__(self, status: int, code: str, message: str, *, side: str | None = None, field: str | None = None,
                 headers: dict[str, str] | None = None, outcome: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.side = side
        self.field = field
        self.headers = headers
        self.outcome = outcome or code


def invalid(fld: str, message: str) -> Refused:
    """A 422 ``invalid_request`` naming the field at fault."""
    return Refused(422, "invalid_request", message, field=fld)


@dataclass(frozen=True)
class PstRequest:
    target: Endpoint
    options: list[str]
    notify_email: str | None


def parse_fields(values: dict[str, bytes], allow_insecure_tls: bool) -> PstRequest:
    """The text fields, checked like the migrations endpoint checks its JSON body; raises Refused."""
    if "target" not in values:
        raise invalid("target", "target: the target account is missing")
    try:
        raw_target = json.loads(values["target"].decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested deeper than the parser goes
        raise invalid("target", "target: must be a JSON object") from None
    try:
        target = Endpoint.model_validate(raw_target)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(["target", *(str(p) for p in first.get("loc", ()))])
        raise invalid(loc, f"{loc}: {first.get('msg')}") from None
    json_log.register_secret(target.password)
    options: object = ["emails"]
    if values.get("options", b"").strip():
        try:
            options = json.loads(values["options"].decode("utf-8"))
        except (ValueError, RecursionError):
            options = None
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise invalid("options", 'options: must be a JSON list of strings, e.g. ["emails"]')
    try:  # strictly: a byte that is not UTF-8 would become U+FFFD, which passes for a letter
        notify = values.get("notify_email", b"").decode("utf-8").strip() or None
    except UnicodeDecodeError:
        raise invalid("notify_email", "notify_email: must be UTF-8 text") from None
    if notify is not None and (len(notify) > 320 or not is_single_address(notify)):
        raise invalid("notify_email", "notify_email: must be one e-mail address (name@example.com), without "
                                      "spaces, commas or control characters")
    if not target.tls_verify and not allow_insecure_tls:
        raise Refused(422, "tls_verify_not_allowed", "turning off certificate checks is not allowed on this service",
                      side="target", field="target.tls_verify")
    problems = registry.pst_problems(target.type, options)
    if problems:
        fld, msg = problems[0]
        raise Refused(422, "options_not_possible", msg, field=fld)
    return PstRequest(target, list(options), notify)


def check_file(path: Path) -> None:
    """The PST system's upload check, with every failure turned into a 422 the user can act on; raises Refused."""
    check = registry.system("pst").check_upload
    assert check is not None  # the PST system always has one
    try:
        check(path)
    except FileRefused as exc:
        raise Refused(422, exc.code, str(exc), side="source", field="file") from None
    except Exception as exc:  # libpff failing in a way the reader does not classify: still the file's fault
        log.warning("PST check failed unexpectedly", extra={"error": type(exc).__name__})
        raise Refused(422, "pst_corrupt", "The Outlook data file is damaged and cannot be read.",
                      side="source", field="file") from None


def human_bytes(n: int) -> str:
    """A size as a person reads it in an error message (decimal units)."""
    for unit, size in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def spool_failed(exc: OSError) -> Refused:
    log.error("PST upload could not be stored", extra={"error": f"{type(exc).__name__}: {exc.strerror}"})
    return Refused(507, "insufficient_storage", "the file could not be stored on this service (spool full "
                   "or not writable); please try again later", outcome="spool_error")


def too_large(limit: int) -> Refused:
    return Refused(413, "file_too_large", f"The file is larger than the {human_bytes(limit)} "
                   f"({limit} bytes) this service accepts for a PST import. Split it in Outlook "
                   "(e.g. archive older items into a second file) and import the parts one by one.",
                   side="source", field="file")


def safe_filename(name: str | None) -> str:
    """The uploaded file's name as shown on the status page: no directories, nothing unprintable."""
    base = (name or "upload.pst").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:200] or "upload.pst"
