"""The capabilities a new IMAP session starts with: the greeting's, without a CAPABILITY round trip, unless the
greeting names none; after STARTTLS they are always asked (what came before TLS is not believed)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.imap.connection import _PinnedPlain


class ScriptedServer:
    """A socket whose server side answers from a script: the greeting, then CAPABILITY with ``asked``."""

    def __init__(self, greeting: bytes, asked: bytes = b"IMAP4rev1 STARTTLS AUTH=PLAIN") -> None:
        self.pending = bytearray(greeting)
        self.asked = asked
        self.commands: list[bytes] = []

    # what imaplib uses of the socket and of its file
    def makefile(self, _mode: str) -> ScriptedServer:
        return self

    def sendall(self, data: bytes) -> None:
        tag, _, command = data.rstrip(b"\r\n").partition(b" ")
        self.commands.append(command)
        if command == b"CAPABILITY":
            self.pending += b"* CAPABILITY " + self.asked + b"\r\n" + tag + b" OK done\r\n"

    def readline(self, limit: int = -1) -> bytes:
        end = self.pending.find(b"\n") + 1 or len(self.pending)
        line = bytes(self.pending[:end])
        del self.pending[:end]
        return line

    def read(self, size: int) -> bytes:
        out = bytes(self.pending[:size])
        del self.pending[:size]
        return out

    def close(self) -> None:
        pass


def connect(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer) -> _PinnedPlain:
    def scripted(self: _PinnedPlain, timeout: float | None = None) -> Any:
        return server

    monkeypatch.setattr(_PinnedPlain, "_create_socket", scripted)
    return _PinnedPlain("imap.example", "192.0.2.1", 143, 5.0)


def test_the_greetings_capabilities_are_taken_without_asking(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ScriptedServer(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] ready\r\n")
    imap = connect(monkeypatch, server)
    assert server.commands == []
    assert imap.capabilities == ("IMAP4REV1", "SASL-IR", "LITERAL+", "AUTH=PLAIN")
    assert "CAPABILITY" not in imap.untagged_responses  # not mistaken later for the login answer's list


def test_a_greeting_without_capabilities_is_followed_by_the_question(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ScriptedServer(b"* OK ready\r\n")
    imap = connect(monkeypatch, server)
    assert server.commands == [b"CAPABILITY"]
    assert imap.capabilities == ("IMAP4REV1", "STARTTLS", "AUTH=PLAIN")


def test_after_the_greeting_capabilities_are_always_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """As after STARTTLS: a list the server put in an answer before TLS (where anyone could) is not believed."""
    server = ScriptedServer(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n", asked=b"IMAP4rev1 AUTH=PLAIN")
    imap = connect(monkeypatch, server)
    imap.untagged_responses["CAPABILITY"] = [b"IMAP4rev1 LITERAL+ INJECTED"]
    imap._get_capabilities()
    assert server.commands == [b"CAPABILITY"]
    assert imap.capabilities == ("IMAP4REV1", "AUTH=PLAIN")

