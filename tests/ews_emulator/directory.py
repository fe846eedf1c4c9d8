"""Directory operations: ExpandDL (public and private distribution lists) and ResolveNames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .soap import (
    M_NS,
    T_NS,
    EwsError,
    copy_el,
    local,
    multi_response,
    require,
    response_message,
    schema_error,
    sub,
    text_of,
    tq,
)

if TYPE_CHECKING:
    from .server import Context


def _mailbox(parent: Any, name: str, address: str, mailbox_type: str) -> None:
    mb = sub(parent, T_NS, "Mailbox")
    sub(mb, T_NS, "Name", name)
    sub(mb, T_NS, "EmailAddress", address)
    sub(mb, T_NS, "RoutingType", "SMTP")
    sub(mb, T_NS, "MailboxType", mailbox_type)


def expand_dl(ctx: Context, op: Any) -> Any:
    # Response shape: "ExpandDL operation" (learn.microsoft.com) successful response sample.
    mbx_el = require(op, M_NS, "Mailbox")
    item_id = mbx_el.find(tq("ItemId"))
    address = text_of(mbx_el, T_NS, "EmailAddress")
    try:
        members: list[Any] = []
        if item_id is not None:
            from .items import resolve_item

            _, item = resolve_item(ctx, item_id)
            if item.kind != "DistributionList":
                raise EwsError("ErrorNameResolutionNoResults", "The item is not a distribution list.")
            for member in item.elem.iterfind(f"{tq('Members')}/{tq('Member')}"):
                mb = member.find(tq("Mailbox"))
                if mb is not None:
                    members.append(copy_el(mb))
        elif address:
            dl = ctx.emulator.distribution_lists.get(address.lower())
            if dl is None:
                raise EwsError("ErrorNameResolutionNoResults", f"No results were found for {address}.")
            for addr in dl:
                target = ctx.emulator.mailboxes.get(addr.lower())
                holder = response_message("ExpandDL")  # scratch parent
                _mailbox(holder, addr.split("@")[0], addr, "Mailbox" if target else "OneOff")
                members.append(holder[-1])
        else:
            raise schema_error("ExpandDL Mailbox needs EmailAddress or ItemId.")
        msg = response_message("ExpandDL")
        expansion = sub(
            msg,
            M_NS,
            "DLExpansion",
            IndexedPagingOffset=str(len(members)),
            TotalItemsInView=str(len(members)),
            IncludesLastItemInRange="true",
        )
        for m in members:
            expansion.append(m)
    except EwsError as e:
        if e.fault:
            raise
        msg = response_message("ExpandDL", e)
    return multi_response("ExpandDL", [msg])


def resolve_names(ctx: Context, op: Any) -> Any:
    # Response shape: "ResolveNames operation" (learn.microsoft.com) successful response sample.
    entry = text_of(op, M_NS, "UnresolvedEntry")
    if not entry:
        raise schema_error("The element 'ResolveNames' has incomplete content. Expected: 'UnresolvedEntry'.")
    needle = entry.lower().removeprefix("smtp:")
    hits: list[tuple[str, str, str]] = []
    for smtp in ctx.emulator.mailboxes:
        if smtp.startswith(needle) or smtp.split("@")[0] == needle:
            hits.append((smtp.split("@")[0], smtp, "Mailbox"))
    for smtp in ctx.emulator.distribution_lists:
        if smtp.startswith(needle):
            hits.append((smtp.split("@")[0], smtp, "PublicDL"))
    if not hits:
        err = EwsError("ErrorNameResolutionNoResults", "No results were found.")
        return multi_response("ResolveNames", [response_message("ResolveNames", err)])
    msg = response_message("ResolveNames")
    if len(hits) > 1:
        msg.set("ResponseClass", "Warning")
        msg.find(f"{{{M_NS}}}ResponseCode").text = "ErrorNameResolutionMultipleResults"
    rs = sub(msg, M_NS, "ResolutionSet", TotalItemsInView=str(len(hits)), IncludesLastItemInRange="true")
    for name, address, kind in hits:
        _mailbox(sub(rs, T_NS, "Resolution"), name, address, kind)
    return multi_response("ResolveNames", [msg])


OPERATIONS = {
    "ExpandDL": expand_dl,
    "ResolveNames": resolve_names,
}

__all__ = ["OPERATIONS", "local"]
