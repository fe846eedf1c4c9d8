"""The rigs the contract suite runs on: one per system (its real server or strict emulator) and memory.

A rig makes fresh accounts, seeds them and reads them back through a client of its own — imapclient
for Dovecot, exchangelib and the emulator's store for Exchange, raw ManageSieve and the script files
for Sieve, the account's dicts for memory — never through the adapter under test. ``caps`` says which
contracts apply; a test that does not apply to a rig is not generated for it. The PST rig cannot be
seeded: what its files hold is written below as data, read once with pffexport (Debian's pff-tools).
"""

from __future__ import annotations

import base64
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchangelib import Account, Message
from exchangelib.folders import Folder
from imapclient import IMAPClient

from mailferry.dovecot import DovecotServer
from mailferry.seed import Message as SeedMessage
from mailferry.seed import seed as imap_seed
from shared.adapters import registry
from shared.adapters.descriptor import System
from shared.adapters.memory.account import MemItem, MemoryServer
from shared.adapters.memory.system import memory_system
from shared.adapters.net import ConnectOptions
from shared.adapters.pim_items import pim_item
from shared.adapters.ports import AdapterEnv, ItemRecord, PimRecord, ScriptRecord
from shared.events import EndpointSpec, SieveScriptItem
from shared.formats.settings import AutoReply
from shared.net_guard import AllowList
from tests.ews_client import emulator_account
from tests.ews_emulator import EwsEmulator

ENV = AdapterEnv(connect=ConnectOptions(allow=AllowList.parse("127.0.0.1"), timeout=30))
#: A message as the suite seeds and reads them: its bytes, the flags kept, its date (None: not kept).
Copy = tuple[bytes, frozenset[str], datetime | None]
Mailbox = dict[str, Counter[Copy]]


def vcard(name: str) -> str:
    given, family = name.split()
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
            f"EMAIL:{given.lower()}@example.test\r\nEND:VCARD\r\n")


@dataclass(frozen=True)
class Seed:
    data: bytes
    flags: tuple[str, ...]
    date: datetime


@dataclass
class Acct:
    login: str
    password: str
    spec: EndpointSpec

    def secret(self) -> str:
        return self.password


class Rig:
    """What every rig offers; the capabilities say which of it the system has."""

    name = ""
    caps: frozenset[str] = frozenset()
    system: System
    env: AdapterEnv = ENV
    kept_flags: frozenset[str] | None = None  # None: every flag; an empty set: none
    inbox = "INBOX"

    def account(self) -> Acct:
        raise NotImplementedError

    def seed(self, acct: Acct, layout: dict[str, list[Seed]]) -> None:
        raise NotImplementedError

    def snapshot(self, acct: Acct) -> Mailbox:
        raise NotImplementedError

    def delete(self, acct: Acct, folder: str, data: bytes) -> None:
        raise NotImplementedError

    def path(self, folder: str) -> str:
        """How the snapshot names the folder a neutral "/"-separated path lands in."""
        return self.inbox if folder == "INBOX" else folder

    def keep(self, flags: tuple[str, ...] | frozenset[str] | list[str]) -> frozenset[str]:
        own = frozenset(f for f in flags if f.lower() != "\\recent")
        return own if self.kept_flags is None else own & self.kept_flags

    # items (contacts, groups, the auto-reply; Sieve scripts), for rigs that have them
    def seed_items(self, acct: Acct, operation: str, items: list[tuple[str, str]]) -> None:
        raise NotImplementedError

    def items(self, acct: Acct, operation: str) -> Counter[str]:
        """The names of the items of an operation on the account."""
        raise NotImplementedError

    def setting(self, acct: Acct) -> Any:
        """The setting the suite changes and undo must put back (auto-reply; the active Sieve script)."""
        raise NotImplementedError

    operation = "contacts"  # the operation the item contracts read and write

    def item_records(self, mid: str) -> list[ItemRecord]:
        """Records of ``operation`` to write (as a source would have read them), named ``A`` and ``B``."""
        return [PimRecord(pim_item(mid, "contacts", name, "vcard", name, vcard(name))) for name in ("Ann A", "Bob B")]

    def seed_setting(self, acct: Acct) -> None:
        """The user's own setting on the target, before any migration."""
        raise NotImplementedError

    def setting_record(self, mid: str) -> ItemRecord:
        """The migrated setting, unlike the user's own."""
        return PimRecord(pim_item(mid, "auto_reply", "auto_reply", "auto-reply", "auto-reply", AutoReply(
            state="Enabled", external_audience="All", internal_reply="away", external_reply="away, ext").to_json()))

    def unreachable(self) -> EndpointSpec:
        raise NotImplementedError

    def check_login(self, spec: EndpointSpec, password: str) -> None:
        """The system's login check (what intake asks before anything is queued)."""
        assert self.system.check_login is not None
        self.system.check_login(spec, password, self.env)

    def close(self) -> None:
        return None


# -- memory ---------------------------------------------------------------------------------------
class MemoryRig(Rig):
    name = "memory"
    caps = frozenset({"source", "seed", "folders", "dates", "login", "mail_target", "undo", "refuses",
                      "items", "item_target", "setting", "measured"})

    def __init__(self) -> None:
        self.server = MemoryServer()
        self.system = memory_system(self.server)
        self._n = 0

    def account(self) -> Acct:
        self._n += 1
        login = f"user{self._n}@memory.test"
        self.server.account(login, f"pw-{self._n}")
        spec = EndpointSpec(type="imap", host="memory.test", port=993, security="tls", login=login, password_sealed="")
        return Acct(login, f"pw-{self._n}", spec)

    def seed(self, acct: Acct, layout: dict[str, list[Seed]]) -> None:
        account = self.server.accounts[acct.login]
        for folder, msgs in layout.items():
            account.folder(folder)
            for m in msgs:
                account.add(folder, m.data, m.flags, m.date)

    def snapshot(self, acct: Acct) -> Mailbox:
        return {name: Counter((m.data, self.keep(m.flags), m.internaldate) for m in f.messages.values())
                for name, f in self.server.accounts[acct.login].folders.items()}

    def delete(self, acct: Acct, folder: str, data: bytes) -> None:
        f = self.server.accounts[acct.login].folders[folder]
        [uid] = [u for u, m in f.messages.items() if m.data == data]
        del f.messages[uid]

    def refused(self, acct: Acct) -> bytes:
        """A message this target refuses (the account's refusal hook)."""
        self.server.accounts[acct.login].refuse = lambda data: b"X-Refuse-Me" in data
        return b"X-Refuse-Me: yes\r\nSubject: refused\r\n\r\nbody\r\n"

    def seed_items(self, acct: Acct, operation: str, items: list[tuple[str, str]]) -> None:
        account = self.server.accounts[acct.login]
        for name, payload in items:
            if operation == "auto_reply":
                account.settings["auto_reply"] = payload
            else:
                account.add_item(MemItem({"contacts": "contact"}[operation], payload, name))

    def items(self, acct: Acct, operation: str) -> Counter[str]:
        return Counter(i.name for i in self.server.accounts[acct.login].items.values())

    def setting(self, acct: Acct) -> Any:
        return self.server.accounts[acct.login].settings.get("auto_reply")

    def seed_setting(self, acct: Acct) -> None:
        self.server.accounts[acct.login].settings["auto_reply"] = '{"state": "Disabled", "internal_reply": "mine"}'


# -- Dovecot: IMAP, POP3, ManageSieve ------------------------------------------------------------
class DovecotAccounts:
    """The contract suite's own Dovecot, refusing messages above ``LIMIT`` (as providers do)."""

    LIMIT = 300_000

    def __init__(self, base: Path) -> None:
        self.server = DovecotServer(base, max_message_size=self.LIMIT)
        self.server.start()
        self._n = 0

    def account(self, type_: str, port: int) -> Acct:
        self._n += 1
        login = f"c{self._n}-{type_}@contract.test"
        password = f"pw-{self._n}-secret"
        self.server.add_user(login, password)
        spec = EndpointSpec(type=type_, host="127.0.0.1", port=port, security="none", login=login,  # type: ignore[arg-type]
                            password_sealed="", tls_verify=False, sieve_port=self.server.sieve_port)
        return Acct(login, password, spec)

    def client(self, acct: Acct) -> IMAPClient:
        c = IMAPClient("127.0.0.1", port=self.server.imap_port, ssl=False, timeout=60)
        c.login(acct.login, acct.password)
        c.normalise_times = False
        return c

    def home(self, acct: Acct) -> Path:
        local, domain = acct.login.lower().split("@")
        return self.server.mail_dir / domain / local

    def close(self) -> None:
        self.server.destroy()


class ImapRig(Rig):
    name = "dovecot-imap"
    caps = frozenset({"source", "seed", "folders", "dates", "login", "network", "mail_target", "undo", "refuses",
                      "measured"})

    def __init__(self, dovecot: DovecotAccounts) -> None:
        self.dovecot = dovecot
        self.system = registry.system("imap")

    def account(self) -> Acct:
        return self.dovecot.account("imap", self.dovecot.server.imap_port)

    def seed(self, acct: Acct, layout: dict[str, list[Seed]]) -> None:
        with self.dovecot.client(acct) as c:
            imap_seed(c, {f: [SeedMessage(m.data, m.flags, m.date) for m in msgs] for f, msgs in layout.items()})

    def snapshot(self, acct: Acct) -> Mailbox:
        out: Mailbox = {}
        with self.dovecot.client(acct) as c:
            for _flags, _delim, name in c.list_folders():
                folder = name.decode() if isinstance(name, bytes) else name
                c.select_folder(folder, readonly=True)
                uids = c.search("ALL")
                got = c.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]) if uids else {}
                out[folder] = Counter((bytes(v[b"BODY[]"]), self.keep([f.decode() for f in v[b"FLAGS"]]),
                                       v[b"INTERNALDATE"].astimezone(UTC)) for v in got.values())
        return out

    def delete(self, acct: Acct, folder: str, data: bytes) -> None:
        with self.dovecot.client(acct) as c:
            c.select_folder(folder)
            got = c.fetch(c.search("ALL"), ["BODY.PEEK[]"])
            [uid] = [u for u, v in got.items() if bytes(v[b"BODY[]"]) == data]
            c.delete_messages([uid])
            c.expunge()

    def refused(self, acct: Acct) -> bytes:
        """A message above the server's size limit."""
        return b"Subject: refused\r\n\r\n" + b"x" * (DovecotAccounts.LIMIT + 1000)

    def unreachable(self) -> EndpointSpec:
        return self.account().spec.model_copy(update={"port": _closed_port()})


class Pop3Rig(ImapRig):
    """POP3 reads one folder without flags or dates; the account is seeded and read back over IMAP."""

    name = "dovecot-pop3"
    caps = frozenset({"source", "seed", "login", "network", "measured"})
    kept_flags = frozenset()

    def __init__(self, dovecot: DovecotAccounts) -> None:
        super().__init__(dovecot)
        self.system = registry.system("pop3")

    def account(self) -> Acct:
        return self.dovecot.account("pop3", self.dovecot.server.pop3_port)

    def snapshot(self, acct: Acct) -> Mailbox:
        return {"INBOX": Counter((data, flags, None) for data, flags, _date in super().snapshot(acct)["INBOX"])}


class SieveRig(Rig):
    """Rules as Sieve scripts over ManageSieve: seeded by a raw ManageSieve exchange written here, read back
    from the script files Dovecot keeps (``~/sieve/<name>.sieve``, ``~/.dovecot.sieve`` the active one)."""

    name = "dovecot-sieve"
    caps = frozenset({"items", "item_target", "setting", "login", "network"})
    operation = "rules"

    def __init__(self, dovecot: DovecotAccounts) -> None:
        self.dovecot = dovecot
        self.system = registry.system("imap")

    def account(self) -> Acct:
        return self.dovecot.account("imap", self.dovecot.server.imap_port)

    def seed_items(self, acct: Acct, operation: str, items: list[tuple[str, str]]) -> None:
        with socket.create_connection(("127.0.0.1", self.dovecot.server.sieve_port), timeout=30) as sock:
            lines = sock.makefile("rb")
            _until_ok(lines)
            auth = base64.b64encode(f"\0{acct.login}\0{acct.password}".encode()).decode()
            sock.sendall(f'AUTHENTICATE "PLAIN" "{auth}"\r\n'.encode())
            _until_ok(lines)
            for name, script in items:
                data = script.encode()
                sock.sendall(f'PUTSCRIPT "{name}" {{{len(data)}+}}\r\n'.encode() + data + b"\r\n")
                _until_ok(lines)
            sock.sendall(f'SETACTIVE "{items[0][0]}"\r\n'.encode())
            _until_ok(lines)
            sock.sendall(b"LOGOUT\r\n")

    def items(self, acct: Acct, operation: str) -> Counter[str]:
        folder = self.dovecot.home(acct) / "sieve"
        return Counter(p.stem for p in folder.glob("*.sieve")) if folder.is_dir() else Counter()

    def scripts(self, acct: Acct) -> dict[str, str]:
        folder = self.dovecot.home(acct) / "sieve"
        return {p.stem: p.read_text() for p in folder.glob("*.sieve")} if folder.is_dir() else {}

    def item_records(self, mid: str) -> list[ItemRecord]:
        return [ScriptRecord(SieveScriptItem(migration_id=mid, item_key=f"sieve:{name}", name=name, script=script,
                                             active=False)) for name, script in SCRIPTS.items()]

    def seed_setting(self, acct: Acct) -> None:
        self.seed_items(acct, "rules", [("main", OWN_SCRIPT)])

    def setting_record(self, mid: str) -> ItemRecord:
        return ScriptRecord(SieveScriptItem(migration_id=mid, item_key="sieve:main", name="main",
                                            script=SCRIPTS["Ann A"], active=True))

    def setting(self, acct: Acct) -> Any:
        """Every script's text and which is active."""
        active = self.dovecot.home(acct) / ".dovecot.sieve"
        return self.scripts(acct), (active.resolve().stem if active.is_symlink() else None)

    def unreachable(self) -> EndpointSpec:
        return self.account().spec.model_copy(update={"sieve_port": _closed_port()})

    def check_login(self, spec: EndpointSpec, password: str) -> None:
        """The rules operation's own check: the account's ManageSieve."""
        check = self.system.readers["rules"].check_login
        assert check is not None
        check(spec, password, self.env)


SCRIPTS = {"Ann A": 'require ["fileinto"];\r\nif header :contains "subject" "invoice" { fileinto "Rechnungen"; }\r\n',
           "Bob B": "keep;\r\n"}
OWN_SCRIPT = 'if header :contains "from" "boss" { keep; }\r\n'


def _until_ok(lines: Any) -> None:
    while True:
        line = lines.readline()
        if not line:
            raise ConnectionError("the ManageSieve server closed the connection")
        if line.startswith(b"OK"):
            return
        if line.startswith((b"NO", b"BYE")):
            raise AssertionError(f"ManageSieve refused: {line!r}")


# -- Exchange (the EWS emulator) -----------------------------------------------------------------
class EwsRig(Rig):
    name = "ews-emulator"
    caps = frozenset({"source", "seed", "folders", "dates", "login", "network", "mail_target", "undo", "items",
                      "item_target", "setting"})
    kept_flags = frozenset({"\\Seen"})
    inbox = "Inbox"

    def __init__(self) -> None:
        self.emu = EwsEmulator().start()
        self.system = registry.system("ews")
        self._n = 0

    def account(self) -> Acct:
        self._n += 1
        login, password = f"u{self._n}@ews.test", f"pw-{self._n}"
        self.emu.add_mailbox(login, password)
        port = int(self.emu.url.split(":")[2].split("/")[0])
        spec = EndpointSpec(type="ews", host="127.0.0.1", port=port, security="none", login=login,
                            password_sealed="", tls_verify=False)
        return Acct(login, password, spec)

    def exchangelib(self, acct: Acct) -> Account:
        return emulator_account(self.emu.url, acct.login, acct.password, fail_fast=True)

    def seed(self, acct: Acct, layout: dict[str, list[Seed]]) -> None:
        acc = self.exchangelib(acct)
        for folder, msgs in layout.items():
            target = acc.inbox if folder == "INBOX" else acc.msg_folder_root
            if folder != "INBOX":
                for part in folder.split("/"):
                    found = [c for c in target.children if c.name == part]
                    if found:
                        target = found[0]
                    else:
                        target = Folder(parent=target, name=part, folder_class="IPF.Note")
                        target.save()
            for m in msgs:
                saved = Message(account=acc, folder=target, mime_content=m.data, is_read="\\Seen" in m.flags)
                saved.save()
                # exchangelib cannot set the received time; the emulator's store takes the seed's date
                item = self.emu.mailbox(acct.login).items[saved.id]
                item.elem.find("{http://schemas.microsoft.com/exchange/services/2006/types}DateTimeReceived").text = \
                    m.date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def snapshot(self, acct: Acct) -> Mailbox:
        mbx = self.emu.mailbox(acct.login)
        out: Mailbox = {}
        for path in mbx.folder_paths():
            copies: Counter[Copy] = Counter()
            for item in mbx.items_in(tuple(path.split("/"))):
                if item.kind != "Message":
                    continue
                received = item.text("DateTimeReceived")
                copies[(item.mime_bytes or b"", frozenset({"\\Seen"}) if item.text("IsRead") == "true" else frozenset(),
                        datetime.fromisoformat(received.replace("Z", "+00:00")) if received else None)] += 1
            out[path] = copies
        return out

    def delete(self, acct: Acct, folder: str, data: bytes) -> None:
        mbx = self.emu.mailbox(acct.login)
        [item] = [i for i in mbx.items_in(self.path(folder)) if i.mime_bytes == data]
        mbx.remove_item(item)

    def seed_items(self, acct: Acct, operation: str, items: list[tuple[str, str]]) -> None:
        from exchangelib import Contact

        acc = self.exchangelib(acct)
        for name, _payload in items:
            Contact(account=acc, folder=acc.contacts, display_name=name, given_name=name).save()

    def items(self, acct: Acct, operation: str) -> Counter[str]:
        return Counter(i.text("DisplayName") or "" for i in self.emu.mailbox(acct.login).items_in("contacts"))

    def setting(self, acct: Acct) -> Any:
        oof = self.emu.mailbox(acct.login).oof
        return None if oof is None else sorted((el.tag.split("}")[-1], (el.text or "").strip()) for el in oof.iter())

    def seed_setting(self, acct: Acct) -> None:
        from exchangelib import OofSettings

        self.exchangelib(acct).oof_settings = OofSettings(state=OofSettings.DISABLED, external_audience="Known",
                                                          internal_reply="mine", external_reply="mine, ext")

    def unreachable(self) -> EndpointSpec:
        return self.account().spec.model_copy(update={"port": _closed_port()})

    def close(self) -> None:
        self.emu.stop()


# -- PST (read-only files; expected values as data) ----------------------------------------------
@dataclass(frozen=True)
class PstMessage:
    subject: str
    delivered: datetime
    body: str  # a line of its text
    read: bool


@dataclass(frozen=True)
class PstFile:
    name: str
    mail_folders: frozenset[str]
    messages: dict[str, list[PstMessage]] = field(default_factory=dict)
    items: dict[str, list[str]] = field(default_factory=dict)  # operation → names


SAMPLE = PstMessage("Here is a sample message", datetime(2010, 3, 15, 17, 12, 7, tzinfo=UTC),
                    "With a sample attachment.", read=True)
#: Read with pffexport 20180714 (``pffexport -t OUT FILE``: the folder tree, OutlookHeaders.txt, Message.txt).
#: Mail folders are the ones under "Top of ..." that hold mail: not Calendar, Contacts, Journal, Notes,
#: Tasks, nor the Outbox (mail never sent is not migrated); "Inbox" is the neutral INBOX.
PST_FILES = [
    PstFile("sample1.pst", frozenset({"Deleted Items", "Sample1"}), {"Sample1": [SAMPLE]},
            {"contacts": [], "contact_groups": [], "calendars": [], "tasks": []}),
    PstFile("sample2.pst", frozenset({"Deleted Items", "Sample2"}), {"Sample2": [SAMPLE]},
            {"contacts": [], "contact_groups": [], "calendars": [], "tasks": []}),
    PstFile("dist-list.pst", frozenset({"Deleted Items", "INBOX", "Sent Items", "Drafts", "RSS Feeds",
                                        "Junk E-mail"}), {},
            {"contacts": ["contact name 1"], "contact_groups": ["test dist list"], "calendars": ["Test appointment"],
             "tasks": []}),
]


class PstRig(Rig):
    """The shared corpus' PST files, copied into a spool as intake would put an upload there."""

    name = "pst-corpus"
    caps = frozenset({"source", "items", "corpus"})

    def __init__(self, corpus: Path, spool: Path) -> None:
        (spool / "pst").mkdir(parents=True, exist_ok=True)
        for f in PST_FILES:
            shutil.copy(corpus / f.name, spool / "pst" / f.name)
        self.env = AdapterEnv(connect=ENV.connect, spool=spool)
        self.system = registry.system("pst")
        self._files = iter(PST_FILES * 100)
        self.current = PST_FILES[0]

    def account(self) -> Acct:
        self.current = next(self._files)
        spec = EndpointSpec(type="pst", host="", port=1, security="none", login="", password_sealed="",
                            path=f"pst/{self.current.name}")
        return Acct("", "", spec)

    def files(self) -> Iterator[tuple[PstFile, Acct]]:
        for f in PST_FILES:
            acct = self.account()
            while self.current is not f:
                acct = self.account()
            yield f, acct


def _closed_port() -> int:
    """A local port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
