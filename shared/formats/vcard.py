"""vCard (RFC 2426 3.0, RFC 6350 4.0, and the 2.1 quirks real exporters still write) <-> ContactCard.

``vobject`` reads and writes the content lines: unfolding (also vCard 2.1 QUOTED-PRINTABLE soft breaks),
QUOTED-PRINTABLE with CHARSET, bare 2.1 parameters (``TEL;HOME;VOICE``), text escapes, parameter
quoting and folding. We do not let it apply its vCard 3.0 value rules: they keep only the first of
several comma-separated values of a property they do not know, drop bare parameters when writing, and
cannot read a ``data:`` URI photo marked ``ENCODING=b``. So this module maps each content line to a
field itself, and holds our rules: a card without any name (no FN and no N), an unknown VERSION, a
PHOTO that is not base64 or broken structure raise :class:`~shared.formats.FormatError`. Every
property without a field in :class:`ContactCard` is kept in ``extra`` (one unfolded content line, as
vobject writes it: name in upper case, decoded QUOTED-PRINTABLE, bare parameters as TYPE).
"""

from __future__ import annotations

from .vcard_lines import escape, unescape
from .vcard_read import parse_vcard, parse_vcards
from .vcard_records import Address, ContactCard, TypedValue
from .vcard_write import serialize_vcard, serialize_vcards

__all__ = [
    "Address",
    "ContactCard",
    "TypedValue",
    "escape",
    "parse_vcard",
    "parse_vcards",
    "serialize_vcard",
    "serialize_vcards",
    "unescape",
]
