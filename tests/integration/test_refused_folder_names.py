"""A folder name Exchange or Microsoft 365 will not save fails only that folder's messages, never the batch.

One batch through the loader's durable write path (memory broker and ledger, as the contract tests use) into
the real EWS and Graph targets, against the emulators, which refuse a folder name of more than 255 characters
the way the services answer a DisplayName they will not save (README, "Folder names refused"). The batch
returns normally (nothing to retry); the other folders hold exactly their messages, read back without the
adapter; the refused folder, its subfolder and their messages are reported failed in the service's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from shared import topics
from shared.adapters.ews import connection as ews_connection
from shared.adapters.ews.mail_target import EwsTarget
from shared.adapters.graph.mail_target import GraphTarget
from shared.adapters.graph.session import open_client
from shared.adapters.ports import MailTarget
from shared.events import DeadLetter, ItemResults
from tests import graph_rig as rig
from tests.contract.helpers import Edges, record, ref
from tests.ews_client import emulator_account
from tests.ews_emulator import EwsEmulator
from tests.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

LONG = "Kunden " + "x" * 249  # 256 characters: one more than Exchange takes
WIDE = "Fotos " + "\U0001F4F7" * 125  # 131 characters, but 256 UTF-16 code units (each camera counts twice)
LOGIN, PASSWORD = "fold@example.test", "pw-fold"
# (folder, message numbers): folders that exist or can be made, two refused names and a subfolder of one.
BATCH = [("Projects", [1, 2]), ("Projects/Old", [3]), (LONG, [4, 5]), (f"{LONG}/2024", [6]), ("INBOX", [7]),
         (WIDE, [8])]
LONG_SHOWN = "'Kunden " + "x" * 70 + "...'"  # the name as the report gives it: 80 characters at most
WIDE_SHOWN = "'Fotos " + "\U0001F4F7" * 71 + "...'"
KEPT = {"Projects": {"message 1", "message 2"}, "Projects/Old": {"message 3"}, "Inbox": {"message 7"}}


def write_batch(target: MailTarget) -> Edges:
    """The batch written once, as the loader writes a batch; it must return (a raise means a retry)."""
    edges = Edges(mid="m-fold", pair="p-fold")
    records = [record(path, n) for path, numbers in BATCH for n in numbers]
    edges.writes().write_mail(records, [ref(path) for path, _n in BATCH], lambda: target)
    return edges


def failures(edges: Edges) -> dict[str, str]:
    """item key → the reason of each dead letter the batch sent."""
    return {e.item_key: e.reason for e in edges.broker.events(topics.ITEMS_FAILED) if isinstance(e, DeadLetter)}


def folder_results(edges: Edges) -> dict[str, tuple[str, str]]:
    """The folders' report lines: folder → (result, reason)."""
    return {r.folder: (r.result, r.reason or "") for e in edges.broker.events(topics.PROGRESS)
            if isinstance(e, ItemResults) for r in e.results if r.item_type == "folder"}


def key(path: str, n: int) -> str:
    return record(path, n).key


def check_report(edges: Edges, long_reason: str, wide_reason: str) -> None:
    """Each refused folder's messages failed with its reason; the other folders done."""
    assert failures(edges) == {key(LONG, 4): long_reason, key(LONG, 5): long_reason,
                               key(f"{LONG}/2024", 6): long_reason, key(WIDE, 8): wide_reason}
    assert folder_results(edges) == {"Projects": ("done", ""), "Projects/Old": ("done", ""), "INBOX": ("done", ""),
                                     LONG: ("failed", long_reason), f"{LONG}/2024": ("failed", long_reason),
                                     WIDE: ("failed", wide_reason)}


def check_tree(tree: dict[str, set[str]], edges: Edges) -> None:
    """Exactly the messages of the folders that could be made; no trace of the refused ones; undo knows
    exactly the two folders made."""
    assert {p: s for p, s in tree.items() if s or "Projects" in p} == KEPT
    assert not [p for p in tree if p.startswith(("Kunden", "Fotos"))]
    assert sorted(t.target_folder for t in edges.undone() if t.kind == "folder") == ["Projects", "Projects\x1fOld"]


# -- Exchange (EWS) ------------------------------------------------------------------------------------------


@pytest.fixture
def ews() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        emu.add_mailbox(LOGIN, PASSWORD)
        yield emu


def ews_tree(emu: EwsEmulator) -> dict[str, set[str]]:
    """Every folder below the message root with the subjects it holds, read with exchangelib directly."""
    acc = emulator_account(emu.url, LOGIN, PASSWORD, fail_fast=True)
    out: dict[str, set[str]] = {}
    root = acc.msg_folder_root
    for f in root.walk():
        path = f.absolute.removeprefix(root.absolute + "/")
        out[path] = {m.subject for m in f.all().only("subject")}
    return out


def test_exchange_refuses_one_folder_name_and_the_rest_of_the_batch_arrives(ews: EwsEmulator) -> None:
    u = urlsplit(ews.url)
    target = EwsTarget(ews_connection.connect_ews("127.0.0.1", int(u.port or 80), "none", LOGIN, PASSWORD))
    edges = write_batch(target)
    check_report(edges, f"Exchange refused to create folder {LONG_SHOWN}: a folder name takes at most 255 "
                        "characters, this one has 256",
                 f"Exchange refused to create folder {WIDE_SHOWN}: ErrorFolderSavePropertyError: "
                 "The folder save operation failed due to invalid property values. "
                 "(field: FieldURI(field_uri='folder:DisplayName'))")  # exchangelib's reading of the MessageXml
    check_tree(ews_tree(ews), edges)


# -- Microsoft 365 (Graph) -----------------------------------------------------------------------------------


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with GraphEmulator(tls=True) as emu:
        emu.add_user(LOGIN)
        yield emu


def graph_tree(emu: GraphEmulator) -> dict[str, set[str]]:
    """Every folder below the message root with the subjects it holds, read with the test's own client."""
    out: dict[str, set[str]] = {}
    with rig.seeding(emu, LOGIN) as g:
        todo: list[tuple[str, str]] = [("", "msgfolderroot")]
        while todo:
            prefix, fid = todo.pop()
            for f in g.get(f"/mailFolders/{fid}/childFolders", params={"includeHiddenFolders": "true"}).json()["value"]:
                path = prefix + f["displayName"]
                msgs: list[dict[str, Any]] = g.get(f"/mailFolders/{f['id']}/messages",
                                                   params={"$select": "subject"}).json()["value"]
                out[path] = {m["subject"] for m in msgs}
                todo.append((path + "/", f["id"]))
    return out


def test_microsoft_365_refuses_one_folder_name_and_the_rest_of_the_batch_arrives(graph: GraphEmulator) -> None:
    app = graph.register_app(secret=rig.SECRET)
    client = open_client(rig.spec(graph, LOGIN), lambda: "", rig.env(graph), rig.settings(graph, app.client_id))
    edges = write_batch(GraphTarget(client))
    answer = "Microsoft Graph refused a request (400 ErrorInvalidRequest: The folder's displayName is not valid.)"
    check_report(edges, f"Microsoft 365 refused to create folder {LONG_SHOWN}: {answer}",
                 f"Microsoft 365 refused to create folder {WIDE_SHOWN}: {answer}")
    check_tree(graph_tree(graph), edges)
