"""A count with its noun in the right number ("1 message", "3 messages") for texts people read."""

from __future__ import annotations


def counted(n: int | str, singular: str, plural: str | None = None) -> str:
    """`n` may be a count read back as text (a Redis field): anything but exactly one takes the plural."""
    try:
        one = int(str(n).strip()) == 1
    except ValueError:
        one = False
    return f"{n} {singular if one else (plural or singular + 's')}"
