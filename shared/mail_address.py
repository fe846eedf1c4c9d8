"""An e-mail address typed by a user, checked just enough to look its domain up (autodetection, autodiscover).

Pure: the request models, intake's autodetection and the adapters' discoveries all read an address the same way.
"""

from __future__ import annotations

import re

MAX_EMAIL_LENGTH = 254

#: What ``parse_email`` accepts, as far as a regular expression can say it (the OpenAPI ``pattern``):
#: something, an ``@``, a domain with a dot; no spaces or control characters but around it.
EMAIL_LOOKUP_PATTERN = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+\.[^\s@\x00-\x1f\x7f-\x9f]+\s*$"

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)


class InvalidEmail(ValueError):
    """The address is not one we can look up; ``str(error)`` is a plain message for the user."""


def parse_email(email: str) -> tuple[str, str]:
    """(local part, domain in lower-case ASCII/IDNA form), or InvalidEmail with a message for the user.

    Only what a lookup needs is checked: one "@", a non-empty local part, and a domain of valid DNS labels
    with at least one dot. IP-literal domains are refused: there is nothing to look up for them.
    """
    text = (email or "").strip()
    if not text:
        raise InvalidEmail("please enter an e-mail address")
    if len(text) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"the e-mail address is longer than {MAX_EMAIL_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidEmail("the e-mail address must not contain spaces or control characters")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidEmail("this is not an e-mail address (name@example.com)")
    if '"' not in local and "@" in local:
        raise InvalidEmail("the e-mail address contains more than one @")
    domain = domain.rstrip(".")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidEmail(f"{domain} is not a valid domain name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise InvalidEmail(f"{domain} is not a valid domain name")
    return local, ascii_domain
