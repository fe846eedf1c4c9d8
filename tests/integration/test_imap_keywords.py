"""Keywords an IMAP target cannot store never cost the message: real Dovecot, read back with imapclient.

Dovecot refuses an APPEND naming a keyword longer than 50 bytes (its default
``mail_max_keyword_length``) with ``NO [CANNOT] Keyword length too long``. A folder the user may
add messages to but not set flags in (Dovecot's ACL plugin, rights without ``w``) answers SELECT
with ``PERMANENTFLAGS (\\Deleted \\Seen)`` and silently drops every other flag on APPEND. In both
cases the message must arrive, with the flags that can be kept, and say what it lost.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mailferry.dovecot import DovecotServer
from shared import net_guard
from shared.adapters.imap.connection import login_imap
from shared.adapters.imap.target import ImapTarget
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import Outgoing, Placed
from shared.errors import ItemRejected

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("dovecot") is None, reason="dovecot not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a private Dovecot needs root"),
]

PASSWORD = "pw-keywords"
LONG = "Quarterly-review-of-the-project-Alpha-follow-up-actions-2024"  # 60 characters
WHEN = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))


class AclDovecot(DovecotServer):
    """Dovecot with the ACL plugin: in a folder called "Shared" the owner may add messages, and set
    only \\Seen and \\Deleted (rights lrsitekxa: no ``w``)."""

    def _config(self, cert_pem: Path, key_pem: Path) -> str:
        acl = self.data_dir / "global-acl"
        acl.write_text("Shared owner lrsitekxa\n")
        acl.chmod(0o644)
        return (super()._config(cert_pem, key_pem)
                + f"mail_plugins = $mail_plugins acl\nplugin {{\n  acl = vfile:{acl}\n}}\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclDovecot]:
    srv = AclDovecot(tmp_path_factory.mktemp("dovecot-keywords"))
    with srv:
        yield srv
    srv.destroy()


_users = iter(range(1, 1000))


def target(server: AclDovecot) -> tuple[str, ImapTarget]:
    login = f"kw{next(_users)}@keywords.test"
    server.add_user(login, PASSWORD)
    opts = ConnectOptions(allow=net_guard.AllowList.parse("127.0.0.1"), timeout=30)
    return login, ImapTarget(login_imap("127.0.0.1", server.imap_port, "none", False, login, PASSWORD, opts))


def message(n: int) -> bytes:
    return f"From: a@keywords.test\r\nMessage-ID: <k{n}@keywords.test>\r\nSubject: n{n}\r\n\r\nbody {n}\r\n".encode()


def flags_on_server(server: AclDovecot, login: str, folder: str) -> dict[str, set[str]]:
    """Subject → flags, read back with imapclient."""
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, PASSWORD)
        c.select_folder(folder, readonly=True)
        got = c.fetch(c.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return {bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().split(":", 1)[1].strip():
            {f.decode() for f in v[b"FLAGS"]} - {"\\Recent"} for v in got.values()}


def kept_out(results: list[Placed | ItemRejected]) -> list[tuple[str, ...] | str]:
    return [getattr(r, "not_kept", ()) if isinstance(r, Placed) else f"refused: {r}" for r in results]


def test_the_server_refuses_a_60_character_keyword(server: AclDovecot) -> None:
    """The premise, with imapclient alone: the keyword is 60 characters and Dovecot refuses it."""
    assert len(LONG) == 60
    login, dst = target(server)
    dst.close()
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, PASSWORD)
        with pytest.raises(IMAPClient.Error, match="Keyword length too long"):
            c.append("INBOX", message(0), flags=[LONG])


@pytest.mark.parametrize("literal_plus", [True, False], ids=["pipelined", "multiappend"])
def test_a_keyword_too_long_is_left_out_and_the_message_copied(server: AclDovecot, literal_plus: bool) -> None:
    login, dst = target(server)
    dst.literal_plus = literal_plus  # False: MULTIAPPEND and APPEND with synchronizing literals, one at a time
    dst.ensure_folders(["Archiv"])
    inbox = [Outgoing(message(1), ("\\Seen", LONG), WHEN), Outgoing(message(2), ("Red&ACA-Category",), WHEN)]
    archive = [Outgoing(message(3), ("\\Flagged", "$Work", LONG), WHEN)]
    out = dst.append_pipelined([("INBOX", inbox), ("Archiv", archive)])
    assert [kept_out(r) for r in out] == [[(LONG,), ()], [(LONG,)]]
    later = dst.append_pipelined([("INBOX", [Outgoing(message(4), (LONG, "$Later"), WHEN)])])
    assert kept_out(later[0]) == [(LONG,)]
    dst.close()

    assert flags_on_server(server, login, "INBOX") == {"n1": {"\\Seen"}, "n2": {"Red&ACA-Category"},
                                                       "n4": {"$Later"}}
    assert flags_on_server(server, login, "Archiv") == {"n3": {"\\Flagged", "$Work"}}


def test_one_message_alone_is_copied_without_the_long_keyword(server: AclDovecot) -> None:
    login, dst = target(server)
    placed = dst.append("INBOX", Outgoing(message(5), ("\\Answered", LONG, "$Forwarded"), WHEN))
    assert placed.not_kept == (LONG,)
    dst.close()
    assert flags_on_server(server, login, "INBOX") == {"n5": {"\\Answered", "$Forwarded"}}


def test_a_folder_without_keywords_in_permanentflags_gets_none(server: AclDovecot) -> None:
    login, dst = target(server)
    dst.ensure_folders(["Shared"])
    flags = ("\\Seen", "\\Flagged", "$Work")
    out = dst.append_pipelined([("Shared", [Outgoing(message(6), flags, WHEN), Outgoing(message(7), (), WHEN)]),
                                ("INBOX", [Outgoing(message(8), flags, WHEN)])])
    assert [kept_out(r) for r in out] == [[("\\Flagged", "$Work"), ()], [()]]
    dst.close()
    assert flags_on_server(server, login, "Shared") == {"n6": {"\\Seen"}, "n7": set()}
    assert flags_on_server(server, login, "INBOX") == {"n8": {"\\Seen", "\\Flagged", "$Work"}}


def test_the_folders_permanentflags_read_in_one_pipeline_leave_out_what_a_folder_cannot_keep(
        server: AclDovecot) -> None:
    """A batch into three folders: their SELECTs go out together (then one UNSELECT); the folder whose ACL keeps
    only \\Seen and \\Deleted gets only those, the others everything; the session then writes on normally."""
    login, dst = target(server)
    dst.ensure_folders(["Shared", "Open"])
    flags = ("\\Seen", "\\Flagged", "$Work")
    out = dst.append_jobs([("Shared", [Outgoing(message(16), flags, WHEN)]), ("INBOX", [Outgoing(message(17), flags, WHEN)]),
                           ("Open", [Outgoing(message(18), flags, WHEN)])])
    assert [kept_out(r) for r in out] == [[("\\Flagged", "$Work")], [()], [()]]
    assert dst._permanent["Shared"] == frozenset({"\\seen", "\\deleted"})
    assert dst._permanent["INBOX"] is not None and "\\*" in dst._permanent["INBOX"]
    assert dst.client._imap.state == "AUTH"
    again = dst.append_jobs([("Open", [Outgoing(message(19), ("$Work",), WHEN)])])  # known now: no SELECT
    assert kept_out(again[0]) == [()]
    dst.close()
    assert flags_on_server(server, login, "Shared") == {"n16": {"\\Seen"}}
    assert flags_on_server(server, login, "INBOX") == {"n17": {"\\Seen", "\\Flagged", "$Work"}}
    assert flags_on_server(server, login, "Open") == {"n18": {"\\Seen", "\\Flagged", "$Work"}, "n19": {"$Work"}}


def test_a_refusal_that_is_not_about_keywords_still_refuses_the_message(server: AclDovecot) -> None:
    _login, dst = target(server)
    with pytest.raises(ItemRejected, match="refused the message"):
        dst.append("No such folder", Outgoing(message(9), ("$Work",), WHEN))
    dst.close()
