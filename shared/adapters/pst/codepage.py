"""Which Windows code page the 8-bit strings of a PST are written in.

An Outlook 97-2002 (ANSI) file stores folder names, subjects, bodies and contact fields as 8-bit
text in the code page of the Windows that wrote it, and says so nowhere in its header: libpff
assumes windows-1252, which turns a Japanese, Chinese or Russian file into mojibake. The items
do say it: PR_MESSAGE_CODEPAGE when Outlook set it, else PR_MESSAGE_LOCALE_ID (an LCID) whose
language has one ANSI code page. Unicode files only need this for the rare 8-bit property.
"""

from __future__ import annotations

import codecs

PR_MESSAGE_CODEPAGE = 0x3FFD
PR_MESSAGE_LOCALE_ID = 0x3FF1
DEFAULT = "cp1252"

# Primary language id (LCID & 0x3FF) -> ANSI code page (Windows' LOCALE_IDEFAULTANSICODEPAGE).
_BY_LANGUAGE = {
    0x11: 932,  # Japanese
    0x12: 949,  # Korean
    0x1E: 874,  # Thai
    0x08: 1253,  # Greek
    0x1F: 1254, 0x2C: 1254,  # Turkish, Azeri (Latin)
    0x0D: 1255,  # Hebrew
    0x01: 1256, 0x20: 1256, 0x29: 1256,  # Arabic, Urdu, Farsi
    0x25: 1257, 0x26: 1257, 0x27: 1257,  # Estonian, Latvian, Lithuanian
    0x2A: 1258,  # Vietnamese
    0x19: 1251, 0x22: 1251, 0x23: 1251, 0x02: 1251, 0x2F: 1251, 0x3F: 1251, 0x40: 1251, 0x44: 1251,
    0x50: 1251,  # Russian, Ukrainian, Belarusian, Bulgarian, Macedonian, Kazakh, Kyrgyz, Tatar, Mongolian
    0x05: 1250, 0x15: 1250, 0x0E: 1250, 0x1B: 1250, 0x24: 1250, 0x18: 1250, 0x1C: 1250,  # cs pl hu sk sl ro sq
}
# Full LCIDs where the language alone does not decide (Chinese, Serbo-Croatian).
_BY_LCID = {
    0x0804: 936, 0x1004: 936,  # Chinese (PRC, Singapore): simplified
    0x0404: 950, 0x0C04: 950, 0x1404: 950,  # Chinese (Taiwan, Hong Kong, Macao): traditional
    0x041A: 1250, 0x101A: 1250, 0x081A: 1250, 0x141A: 1250,  # Croatian, Serbian and Bosnian (Latin)
    0x0C1A: 1251, 0x201A: 1251,  # Serbian and Bosnian (Cyrillic)
}


def codec_name(page: int | None) -> str | None:
    """A Windows code page number as a Python codec name, None when Python has no such codec."""
    if page is None or page <= 0 or page in (1200, 1201, 65001):  # UTF-16/UTF-8 are no 8-bit page
        return None
    name = f"cp{page}"
    try:
        codecs.lookup(name)
    except LookupError:
        return None
    return name


def for_lcid(lcid: int | None) -> str | None:
    """The ANSI code page of a Windows locale id, as a codec name; None when unknown or plain Western."""
    if not lcid:
        return None
    page = _BY_LCID.get(lcid & 0xFFFF) or _BY_LANGUAGE.get(lcid & 0x3FF)
    return codec_name(page)


def of_item(props: dict[int, int]) -> str | None:
    """The code page an item states (``props``: its PR_MESSAGE_CODEPAGE / PR_MESSAGE_LOCALE_ID values)."""
    return codec_name(props.get(PR_MESSAGE_CODEPAGE)) or for_lcid(props.get(PR_MESSAGE_LOCALE_ID))


def libpff_name(codec: str) -> str:
    """The name libpff's set_ascii_codepage takes for one of our codec names ("cp932" -> "windows-932")."""
    return "windows-" + codec[2:] if codec.startswith("cp") else codec
