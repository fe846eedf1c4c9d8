"""Delta queries: rounds of changes since an opaque token, paged with @odata.nextLink ($skiptoken) and closed
with @odata.deltaLink ($deltatoken); items gone since the token come back as `@removed` {"reason": "deleted"}.

State lives in the emulator (tokens are opaque keys), as a snapshot of id -> changeKey per round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .call import Answer, Call
from .errors import GraphError, bad_request
from .ids import opaque_token

MAX_PAGE = 1000
DEFAULT_PAGE = 10


@dataclass
class DeltaState:
    mailbox: str
    scope: tuple[str, ...]
    snapshot: dict[str, str]  # id -> changeKey when the round started
    select: str | None
    extra: dict[str, str]  # query parameters the round needs again (startDateTime/endDateTime)


@dataclass
class PageState:
    mailbox: str
    scope: tuple[str, ...]
    remaining: list[dict[str, Any]]
    delta_token: str


def params(call: Call, extra_allowed: frozenset[str] = frozenset()) -> dict[str, str]:
    """Refuse query options a delta link does not take."""
    allowed = {"$select", "$deltatoken", "$skiptoken"} | set(extra_allowed)
    for key in call.query:
        if key.startswith("$") and key not in allowed:
            raise bad_request(f"Query option '{key}' is not supported with delta queries by the Graph emulator.")
    return call.query


def _gone() -> GraphError:
    return GraphError(410, "SyncStateNotFound", "The sync state generation is not found. Start a new round of "
                                                "delta queries without a token.")


def answer(call: Call, scope: tuple[str, ...], current: dict[str, tuple[str, Callable[[], dict[str, Any]]]],
           link: str, type_name: str, extra: dict[str, str] | None = None) -> Answer:
    """One delta page. `current` maps each item id in scope to (changeKey, render function)."""
    emu = call.emulator
    q = call.query
    upn = call.mailbox.upn
    size = DEFAULT_PAGE
    wanted = call.prefer("odata.maxpagesize")
    headers: dict[str, str] = {}
    if wanted is not None:
        if not wanted.isdigit() or int(wanted) < 1:
            raise bad_request(f"Invalid odata.maxpagesize preference '{wanted}'.")
        size = min(int(wanted), MAX_PAGE)
        headers["Preference-Applied"] = f"odata.maxpagesize={size}"
    if "$skiptoken" in q:
        page = emu.delta_pages.get(q["$skiptoken"])
        if page is None or page.mailbox != upn or page.scope != scope:
            raise _gone()
        del emu.delta_pages[q["$skiptoken"]]
        return _page(call, page, link, size, type_name, headers)
    if "$deltatoken" in q:
        state = emu.delta_states.get(q["$deltatoken"])
        if state is None or state.mailbox != upn or state.scope != scope:
            raise _gone()
        before, select = state.snapshot, state.select
    else:
        before, select = {}, q.get("$select")
    changes: list[dict[str, Any]] = [render() for item_id, (ck, render) in current.items() if before.get(item_id) != ck]
    changes += [{"@odata.type": f"#microsoft.graph.{type_name}", "id": gone, "@removed": {"reason": "deleted"}}
                for gone in before if gone not in current]
    if select:
        keep = {"id", *[s.strip() for s in select.split(",")]}
        changes = [{k: v for k, v in c.items() if k in keep or k.startswith("@")} for c in changes]
    token = opaque_token(40)
    emu.delta_states[token] = DeltaState(upn, scope, {i: ck for i, (ck, _) in current.items()}, select,
                                         dict(extra or {}))
    return _page(call, PageState(upn, scope, changes, token), link, size, type_name, headers)


def _page(call: Call, page: PageState, link: str, size: int, type_name: str, headers: dict[str, str]) -> Answer:
    chunk, rest = page.remaining[:size], page.remaining[size:]
    body: dict[str, Any] = {"@odata.context": f"{call.base}/$metadata#Collection({type_name})", "value": chunk}
    if rest:
        skip = opaque_token(40)
        call.emulator.delta_pages[skip] = PageState(page.mailbox, page.scope, rest, page.delta_token)
        body["@odata.nextLink"] = f"{link}?$skiptoken={skip}"
    else:
        body["@odata.deltaLink"] = f"{link}?$deltatoken={page.delta_token}"
    return Answer(200, body, headers=headers, entity_type=type_name, collection=True)


def state_extra(call: Call) -> dict[str, str]:
    """The extra parameters (calendar window) of the round a $deltatoken/$skiptoken belongs to."""
    token = call.query.get("$deltatoken")
    if token and token in call.emulator.delta_states:
        return call.emulator.delta_states[token].extra
    skip = call.query.get("$skiptoken")
    if skip and skip in call.emulator.delta_pages:
        page = call.emulator.delta_pages[skip]
        state = call.emulator.delta_states.get(page.delta_token)
        return state.extra if state else {}
    return {}
