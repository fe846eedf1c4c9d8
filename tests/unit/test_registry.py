"""The registry (shared/adapters/registry.py): which systems exist, what each pair can carry, and the facts
intake, the CLI and the services ask instead of switching on the type.

The expected table is written out here as data (what the README's table says each pair can migrate), so a
change to a system's readers or writers that changes what a pair offers shows up as a failing test.
"""

from __future__ import annotations

import hashlib
import typing

import pytest

from services.intake.api_models import Endpoint
from shared.adapters import registry
from shared.adapters.descriptor import Reading, System, Writing
from shared.errors import NotSupported
from shared.events import EndpointSpec, ExtractTask, FolderRef
from shared.events.migration import EndpointType

ALL = ["emails", "contacts", "contact_groups", "calendars", "tasks", "rules", "auto_reply"]
NO_GROUPS = ["emails", "contacts", "calendars", "tasks", "rules", "auto_reply"]
TABLE = {
    # Microsoft 365 (Graph) takes contact groups only to report each one it cannot hold (it has none)
    "ews": {"ews": ALL, "graph": ALL, "imap": ["emails"]},
    # ... and reads none, so a Graph source never offers them
    "graph": {"ews": NO_GROUPS, "graph": NO_GROUPS, "imap": ["emails"]},
    "imap": {"ews": ["emails"], "graph": ["emails"], "imap": ["emails", "rules"]},
    "pop3": {"ews": ["emails"], "graph": ["emails"], "imap": ["emails"]},
    "pst": {"ews": ["emails", "contacts", "contact_groups", "calendars", "tasks"],
            "graph": ["emails", "contacts", "contact_groups", "calendars", "tasks"], "imap": ["emails"]},
}


def test_the_table_is_what_each_pair_can_carry() -> None:
    assert registry.table() == TABLE
    assert list(registry.table()) == ["ews", "graph", "imap", "pop3", "pst"]  # accounts sorted, then uploaded files


def test_the_api_and_event_types_name_exactly_the_registered_systems() -> None:
    api_types = set(typing.get_args(Endpoint.model_fields["type"].annotation))
    assert api_types == set(registry.account_sources()) | set(registry.targets())
    assert set(typing.get_args(EndpointType)) == set(registry.SYSTEMS)


def test_an_unknown_type_is_not_supported() -> None:
    with pytest.raises(NotSupported, match="carrier-pigeon accounts are not available"):
        registry.system("carrier-pigeon")
    assert registry.runnable("carrier-pigeon", "imap") == ()
    assert registry.label("carrier-pigeon") == "carrier-pigeon"


def test_facts_intake_and_the_cli_ask() -> None:
    assert registry.needs_host("imap") and registry.needs_host("pop3") and not registry.needs_host("ews")
    assert registry.needs_host("carrier-pigeon") and registry.needs_host(None)
    assert registry.autodiscovered() == ["ews"]
    assert registry.account_sources() == ["ews", "graph", "imap", "pop3"]
    assert registry.targets() == ["ews", "graph", "imap"]
    assert not registry.needs_host("graph") and registry.hostless() == ["ews", "graph"]
    assert registry.auth_modes("graph") == ("app", "oauth2") and registry.auth_modes("imap") == ("basic",)
    assert not registry.needs_password("graph", "app") and registry.needs_password("graph", "oauth2")
    assert registry.needs_password("imap", "basic") and registry.needs_password("carrier-pigeon", "app")
    assert registry.system("graph").sign_in is not None and registry.system("ews").sign_in is None
    assert registry.account_types("target") == ["imap", "ews", "graph"]
    assert registry.system("imap").default_ports == {"tls": 993, "starttls": 143, "none": 143}
    assert registry.system("pop3").default_ports["tls"] == 995
    assert registry.system("pst").uploaded and registry.system("pst").check_login is None
    assert registry.system("pop3").undo is None and registry.system("imap").undo is not None
    # (Sieve scripts are put back by the IMAP system's one Undo now, not by a second port: no script_undo.)
    assert registry.system("ews").undo is not None


def test_the_pst_message_says_what_the_target_takes() -> None:
    [(fld, message)] = registry.pst_problems("ews", ["emails", "rules"])
    assert fld == "options"
    assert "only e-mails, contacts, contact_groups, calendars and tasks can be imported (not rules)" in message


def test_a_reader_and_a_writer_of_different_formats_make_no_option() -> None:
    assert "rules" in registry.system("imap").readers and "rules" in registry.system("ews").writers
    assert "rules" not in registry.runnable("imap", "ews")  # Sieve scripts are not Exchange rules


def task(kind: str, uids: list[int], refs: list[str]) -> ExtractTask:
    spec = EndpointSpec(type=kind, host="h", port=1, security="none", login="l", password_sealed="")  # type: ignore[arg-type]
    return ExtractTask(migration_id="m", task_id="t", source=spec, folder=FolderRef(folder_id="f1", path=["INBOX"]),
                       uidvalidity=5, uids=uids, refs=refs)


def test_task_keys_need_no_session() -> None:
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    assert registry.system("imap").task_keys(task("imap", [3, 9], [])) == ["f1:5:3", "f1:5:9"]
    assert registry.system("pop3").task_keys(task("pop3", [], ["u1"])) == [f"pop3:{sha('u1')}"]
    assert registry.system("ews").task_keys(task("ews", [], ["AAMk"])) == [f"f1:ews:{sha('AAMk')}"]
    assert registry.system("pst").task_keys(task("pst", [], ["2097188"])) == ["f1:pst:2097188"]
    assert registry.system("graph").task_keys(task("graph", [], ["AAkALg"])) == [f"f1:graph:{sha('AAkALg')}"]


def never(*_args: object) -> typing.Any:
    raise AssertionError("not opened in this test")


def test_a_registered_system_takes_part_while_it_is_registered() -> None:
    fax = System(name="fax", label="Fax", mail_source=never, mail_target=never,
                 readers={"contacts": Reading("vcard", never)}, writers={"contacts": Writing("vcard", never)})
    with registry.registered(fax):
        assert registry.runnable("fax", "fax") == ("emails", "contacts")
        assert registry.runnable("fax", "ews") == ("emails", "contacts")  # Exchange writes vCards too
        assert registry.problems("fax", "imap", ["contacts"])[0][1].startswith("from a Fax source to a IMAP target")
        assert "fax" in registry.table()
    assert "fax" not in registry.table() and registry.runnable("fax", "ews") == ()
