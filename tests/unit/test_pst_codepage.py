"""Which code page a PST item's 8-bit strings are in (MS-OXCMSG PidTagMessageCodepage, PidTagMessageLocaleId).

Expected pages are Windows' own (LOCALE_IDEFAULTANSICODEPAGE), written here from Microsoft's code page table,
and checked by decoding a known word with the page named.
"""

from __future__ import annotations

from shared.adapters.pst import codepage as cp


def test_a_stated_code_page_wins_over_the_locale() -> None:
    assert cp.of_item({cp.PR_MESSAGE_CODEPAGE: 1251, cp.PR_MESSAGE_LOCALE_ID: 0x0411}) == "cp1251"


def test_locales_give_their_ansi_code_page() -> None:
    cases = {0x0411: ("cp932", "連絡先".encode("cp932")), 0x0419: ("cp1251", "Входящие".encode("cp1251")),
             0x0804: ("cp936", "收件箱".encode("gbk")), 0x0404: ("cp950", "收件匣".encode("big5")),
             0x0412: ("cp949", "받은 편지함".encode("euc-kr")), 0x0415: ("cp1250", "Usunięte".encode("iso-8859-2")),
             0x0408: ("cp1253", "Εισερχόμενα".encode("iso-8859-7")), 0x041A: ("cp1250", b""),
             0x0C1A: ("cp1251", b"")}
    for lcid, (name, sample) in cases.items():
        assert cp.of_item({cp.PR_MESSAGE_LOCALE_ID: lcid}) == name, hex(lcid)
        sample.decode(name)  # the page decodes what that language writes


def test_western_unknown_and_unicode_pages_leave_the_default() -> None:
    for props in ({}, {cp.PR_MESSAGE_LOCALE_ID: 0x0409}, {cp.PR_MESSAGE_LOCALE_ID: 0x0407},
                  {cp.PR_MESSAGE_CODEPAGE: 65001}, {cp.PR_MESSAGE_CODEPAGE: 1200}, {cp.PR_MESSAGE_CODEPAGE: 99999},
                  {cp.PR_MESSAGE_LOCALE_ID: 0}):
        assert cp.of_item(props) is None, props
    assert cp.of_item({cp.PR_MESSAGE_CODEPAGE: 1252}) == "cp1252"


def test_libpff_names() -> None:
    assert cp.libpff_name("cp932") == "windows-932" and cp.libpff_name("cp1251") == "windows-1251"
