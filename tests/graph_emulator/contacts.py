"""contactFolders and contacts (default folder and subfolders), with per-folder delta.

Graph v1.0 has no contact-group (distribution list) resource, so neither has the emulator."""

from __future__ import annotations

from typing import Any

from . import delta, folder_tree, query, render, resolve
from .call import Answer, Call
from .errors import GraphError, bad_request
from .routing import Route
from .schema import load_schema
from .store import Entry

INLINE = frozenset({"singleValueExtendedProperties"})
READ_ONLY = load_schema().read_only("contact")
# Outlook contacts hold three e-mail addresses, two business and two home phones, three IM addresses
LIMITS = {"emailAddresses": 3, "businessPhones": 2, "homePhones": 2, "imAddresses": 3}
_QUERY = frozenset({"$select", "$top", "$skip", "$expand"})


def folder(call: Call, key: str) -> Entry:
    return resolve.entry(call, key, "contactFolder", well_known=True)


def contact_of(call: Call, p: dict[str, str]) -> Entry:
    entry = resolve.entry(call, p["contact"], "contact")
    if "cfolder" in p and entry.parent != folder(call, p["cfolder"]).id:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return entry


# -- folders -------------------------------------------------------------------------------------
def list_folders(call: Call, p: dict[str, str]) -> Answer:
    """Child folders of a folder; without one, of the default Contacts folder (what GET /contactFolders lists)."""
    parent = folder(call, p.get("cfolder", "contacts"))
    return render.listing(call, "contactFolder", call.mailbox.children(parent.id, "contactFolder"),
                          f"{call.user_path}/contactFolders('{parent.id}')/childFolders")


def get_folder(call: Call, p: dict[str, str]) -> Answer:
    opts = query.parse(call.emulator.schema, "contactFolder", call.query, frozenset({"$select"}))
    return Answer(200, render.entity(call, folder(call, p["cfolder"]), opts), entity_type="contactFolder")


def create_folder(call: Call, p: dict[str, str]) -> Answer:
    parent = folder(call, p.get("cfolder", "contacts"))
    body = call.json()
    call.emulator.validator.check_request("contactFolder", body)
    name = folder_tree.display_name(body)
    folder_tree.ensure_free(call.mailbox.children(parent.id, "contactFolder"), str(name))
    entry = call.mailbox.new_entry("contactFolder", parent.id, {"displayName": name})
    return Answer(201, render.entity(call, entry), entity_type="contactFolder")


def delete_folder(call: Call, p: dict[str, str]) -> Answer:
    folder_tree.delete(call.mailbox, folder(call, p["cfolder"]))
    return Answer(204)


# -- contacts ------------------------------------------------------------------------------------
def _check_limits(body: dict[str, Any]) -> None:
    for key, most in LIMITS.items():
        if isinstance(body.get(key), list) and len(body[key]) > most:
            raise bad_request(f"A contact holds at most {most} values in '{key}'.", "ErrorInvalidRequest")


def list_contacts(call: Call, p: dict[str, str]) -> Answer:
    parent = folder(call, p.get("cfolder", "contacts"))
    return render.listing(call, "contact", call.mailbox.children(parent.id, "contact"),
                          f"{call.user_path}/contactFolders('{parent.id}')/contacts", allowed=_QUERY)


def get(call: Call, p: dict[str, str]) -> Answer:
    opts = query.parse(call.emulator.schema, "contact", call.query, frozenset({"$select", "$expand"}))
    return Answer(200, render.entity(call, contact_of(call, p), opts), entity_type="contact")


def create(call: Call, p: dict[str, str]) -> Answer:
    from . import extended

    parent = folder(call, p.get("cfolder", "contacts"))
    body = call.json()
    call.emulator.validator.check_request("contact", body, INLINE)
    _check_limits(body)
    now = call.emulator.clock.iso()
    props: dict[str, Any] = {"createdDateTime": now, "lastModifiedDateTime": now, "categories": [],
                             "emailAddresses": [], "businessPhones": [], "homePhones": [], "imAddresses": [],
                             "children": []}
    props.update({k: v for k, v in body.items() if k not in READ_ONLY and k not in INLINE and "@" not in k})
    if not props.get("displayName"):
        props["displayName"] = " ".join(str(props[k]) for k in ("givenName", "surname") if props.get(k))
    entry = call.mailbox.new_entry("contact", parent.id, props)
    entry.extended = extended.parse_list(body.get("singleValueExtendedProperties") or [])
    return Answer(201, render.entity(call, entry), entity_type="contact")


def update(call: Call, p: dict[str, str]) -> Answer:
    entry = contact_of(call, p)
    body = call.json()
    call.emulator.validator.check_request("contact", body, INLINE)
    merged = {**entry.props, **body}
    _check_limits(merged)
    entry.props.update({k: v for k, v in body.items() if k not in READ_ONLY and k not in INLINE and "@" not in k})
    entry.touch(call.emulator.clock.iso())
    return Answer(200, render.entity(call, entry), entity_type="contact")


def delete(call: Call, p: dict[str, str]) -> Answer:
    call.mailbox.remove(contact_of(call, p))
    return Answer(204)


def contacts_delta(call: Call, p: dict[str, str]) -> Answer:
    parent = folder(call, p.get("cfolder", "contacts"))
    delta.params(call)
    current = render.delta_items(call, call.mailbox.children(parent.id, "contact"))
    return delta.answer(call, ("contacts", parent.id), current,
                        f"{call.user_path}/contactFolders('{parent.id}')/contacts/delta", "contact")



def folders_delta(call: Call, p: dict[str, str]) -> Answer:
    delta.params(call)
    root = folder(call, "contacts")
    below = [e for e in folder_tree.subtree(call.mailbox, root) if e.kind == "contactFolder" and e is not root]
    return delta.answer(call, ("contactFolders",), render.delta_items(call, below),
                        f"{call.user_path}/contactFolders/delta", "contactFolder")


ROUTES = [
    Route("GET", "contactFolders/delta", folders_delta, "Contacts"),
    Route("GET", "contacts/delta", contacts_delta, "Contacts"),
    Route("GET", "contactFolders/{cfolder}/contacts/delta", contacts_delta, "Contacts"),
    Route("GET", "contactFolders", list_folders, "Contacts"),
    Route("POST", "contactFolders", create_folder, "Contacts"),
    Route("GET", "contactFolders/{cfolder}", get_folder, "Contacts"),
    Route("DELETE", "contactFolders/{cfolder}", delete_folder, "Contacts"),
    Route("GET", "contactFolders/{cfolder}/childFolders", list_folders, "Contacts"),
    Route("POST", "contactFolders/{cfolder}/childFolders", create_folder, "Contacts"),
    Route("GET", "contacts", list_contacts, "Contacts"),
    Route("POST", "contacts", create, "Contacts"),
    Route("GET", "contactFolders/{cfolder}/contacts", list_contacts, "Contacts"),
    Route("POST", "contactFolders/{cfolder}/contacts", create, "Contacts"),
    *[Route(m, pat, h, "Contacts") for pat in ("contacts/{contact}", "contactFolders/{cfolder}/contacts/{contact}")
      for m, h in (("GET", get), ("PATCH", update), ("DELETE", delete))],
]
