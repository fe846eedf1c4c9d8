"""Microsoft 365 on the web page, in Chromium: choose the account type, "Sign in with Microsoft" (authorization
code with PKCE, in a window of its own, against the Graph emulator's sign-in endpoint), start the migration
into a Dovecot account, and see it arrive. The stack here is configured for the emulator as an operator would.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from mailferry import stack
from mailferry.stack import StackInfo
from tests import graph_rig as rig
from tests.browser.conftest import VIEWPORT, Screenshots
from tests.browser.test_pages import fill_account, message_count, open_status, wait_state
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import wait_final
from tests.graph_emulator import GraphEmulator
from tests.servers import Process


@pytest.fixture(scope="module")
def graph_emu() -> Iterator[GraphEmulator]:
    with GraphEmulator(tls=True) as emu:  # msal takes only an https authority
        yield emu


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh profile that accepts the emulator's test certificate (the sign-in window goes there)."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", ignore_https_errors=True,
                                  extra_http_headers={"Accept-Language": "en-GB,en"})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def running_stack(broker: Process, redis_server: Process, graph_emu: GraphEmulator,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """The pages' stack (web_url comes from it), with sign-in with Microsoft configured for the emulator, and the
    operator's app for the tenant of example.test."""
    state = tmp_path_factory.mktemp("graph-browser")
    tenants = state / "tenants.json"
    tenants.write_text(json.dumps({"example.test": {
        "tenant_id": graph_emu.tenant.tenant_id, "client_id": graph_emu.register_app(secret=rig.SECRET).client_id,
        "client_secret": rig.SECRET}}))
    env = stack_env(broker, redis_server, f"b{secrets.token_hex(4)}.", MAILFERRY_GRAPH_URL=graph_emu.graph_url,
                    MAILFERRY_GRAPH_AUTHORITY=graph_emu.base_url, MAILFERRY_CA_FILE=str(graph_emu.ca_file),
                    MAILFERRY_GRAPH_TENANTS=str(tenants),
                    # the form's "no sign-in: the organisation's app" path, which an operator must allow for anyone
                    # (services/intake/operator_app_gate.py)
                    MAILFERRY_OPERATOR_APP_PUBLIC="true")
    redirect = f"http://127.0.0.1:{env['MAILFERRY_INTAKE_PORT']}/api/v1/sign-in/graph/redirect"
    env["MAILFERRY_GRAPH_CLIENT_ID"] = graph_emu.register_app(public_client=True,
                                                              redirect_uris={redirect}).client_id
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def sign_in(page: Page, side: str, login: str | None = None) -> None:
    """Click the side's "Sign in with Microsoft" (login typed first when given) and wait until signed in."""
    if login is not None:
        page.fill(f"#{side}-login", login)
    with page.expect_popup() as popup:
        page.click(f"#{side}-sign-in")
    expect(page.locator(f"#{side}-sign-in-status")).to_have_text(f"Signed in as {login}." if login else
                                                                    re.compile(r"^Signed in as "))
    if not popup.value.is_closed():
        popup.value.wait_for_event("close", timeout=30_000)  # the window closes itself once signed in


def start_and_finish(page: Page, running_stack: StackInfo, source_login: str) -> tuple[str, dict]:
    """Start the filled-in migration; its id and final status."""
    page.click("#start")
    expect(page.locator("#done")).to_be_visible(timeout=60_000)
    mid = page.locator("#migration-id").inner_text().strip()
    return mid, wait_final(running_stack, mid, source_login)


def test_sign_in_with_microsoft_then_migrate(page: Page, web_url: str, running_stack: StackInfo,
                                             accounts: Accounts, graph_emu: GraphEmulator,
                                             shot: Screenshots) -> None:
    login = f"erin-{secrets.token_hex(3)}@example.test"
    graph_emu.add_user(login)
    with rig.seeding(graph_emu, login) as g:
        for n in range(6):
            rig.message(g, "inbox", f"hello {n}", read=bool(n % 2), received=f"2024-03-0{n + 1}T10:00:00Z")
    page.goto(f"{web_url}/")
    page.select_option("#source-type", "graph")
    expect(page.locator("#source-server-row")).to_be_hidden()  # the operator says where Microsoft 365 is
    expect(page.locator("#source-password-field")).to_be_hidden()
    expect(page.locator("#source-sign-in")).to_have_text("Sign in with Microsoft")
    sign_in(page, "source", login)
    dst = accounts.new("graph-dst")
    fill_account(page, "target", accounts, dst)
    expect(page.locator("#option-emails")).to_be_enabled()
    expect(page.locator("#option-contacts")).to_be_disabled()  # IMAP holds no contacts
    shot(page, "new-migration-microsoft-365", docs=True)
    assert page.evaluate("document.documentElement.outerHTML").count("sign_in=") == 0  # the id is not in the page
    mid, st = start_and_finish(page, running_stack, login)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", mid), mid
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 6
    assert message_count(accounts, dst) == 6


def test_a_refused_sign_in_is_said_next_to_the_button(page: Page, web_url: str, graph_emu: GraphEmulator) -> None:
    page.goto(f"{web_url}/")
    page.select_option("#source-type", "graph")
    page.fill("#source-login", "nobody@example.test")  # no such user: the sign-in service says login_required
    with page.expect_popup() as popup:
        page.click("#source-sign-in")
    popup.value.wait_for_load_state()
    expect(page.locator("#source-sign-in-status")).to_contain_text("The sign-in did not succeed")
    expect(page.locator("#source-sign-in-status")).to_contain_text("login_required")


def test_into_microsoft_365_signed_in_on_the_target_side(page: Page, web_url: str, running_stack: StackInfo,
                                                        accounts: Accounts, graph_emu: GraphEmulator) -> None:
    src = accounts.new("to-graph")
    with accounts.client(src) as c:
        for n in range(4):
            c.append("INBOX", f"From: a@example.net\r\nSubject: to 365 #{n}\r\nMessage-ID: <t{n}@example.net>\r\n"
                              f"\r\nhello {n}\r\n".encode(), (b"\\Seen",) if n % 2 else ())
    login = f"fay-{secrets.token_hex(3)}@example.test"
    graph_emu.add_user(login)
    page.goto(f"{web_url}/")
    fill_account(page, "source", accounts, src)
    page.select_option("#target-type", "graph")
    expect(page.locator("#target-server-row")).to_be_hidden()
    expect(page.locator("#target-password-field")).to_be_hidden()
    sign_in(page, "target", login)
    expect(page.locator("#option-emails")).to_be_enabled()
    expect(page.locator("#option-contacts")).to_be_disabled()  # an IMAP source holds no contacts
    _, st = start_and_finish(page, running_stack, src)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 4
    with rig.seeding(graph_emu, login) as g:
        got = sorted((m["subject"], m["isRead"], m["isDraft"]) for m in g.get("/mailFolders/inbox/messages", params={
            "$select": "subject,isRead,isDraft"}).json()["value"])
    assert got == [(f"to 365 #{n}", bool(n % 2), False) for n in range(4)]


def test_undo_into_microsoft_365_asks_for_a_new_sign_in_not_a_password(
        page: Page, web_url: str, running_stack: StackInfo, accounts: Accounts, graph_emu: GraphEmulator,
        shot: Screenshots) -> None:
    """The migration's sign-in ended with it: the undo form offers Sign in with Microsoft instead of a password
    field, refuses to start without it, and undoes once the target's user has signed in again."""
    src = accounts.new("undo-365")
    with accounts.client(src) as c:
        for n in range(3):
            c.append("INBOX", f"From: a@example.net\r\nSubject: undo me #{n}\r\nMessage-ID: <v{n}@example.net>\r\n"
                              f"\r\nhello {n}\r\n".encode(), (b"\\Seen",))
    login = f"gus-{secrets.token_hex(3)}@example.test"
    graph_emu.add_user(login)
    page.goto(f"{web_url}/")
    fill_account(page, "source", accounts, src)
    page.select_option("#target-type", "graph")
    sign_in(page, "target", login)
    mid, st = start_and_finish(page, running_stack, src)
    assert st["state"] == "completed", st
    open_status(page, web_url, mid, src)
    expect(page.locator("#undo-form")).to_be_visible()
    expect(page.locator("#undo-password-field")).to_be_hidden()  # no password: Microsoft's sign-in instead
    expect(page.locator("#undo-sign-in")).to_have_text("Sign in with Microsoft")
    expect(page.locator("#undo-sign-in-hint")).to_contain_text("sign in to the target account again")
    page.click("#undo")
    expect(page.locator("#undo-sign-in-error")).to_contain_text("Sign in with Microsoft first.")
    sign_in(page, "undo")
    expect(page.locator("#undo-sign-in-status")).to_have_text(f"Signed in as {login}.")
    shot(page, "status-undo-microsoft-365")
    page.click("#undo")
    wait_state(page, "undone")
    expect(page.locator("#undo-progress")).to_contain_text("3 messages")
    with rig.seeding(graph_emu, login) as g:
        assert g.get("/mailFolders/inbox/messages", params={"$select": "id"}).json()["value"] == []


def test_undo_into_microsoft_365_through_the_operators_app_asks_for_nothing(
        page: Page, web_url: str, running_stack: StackInfo, accounts: Accounts, graph_emu: GraphEmulator) -> None:
    """Without a sign-in the operator's app writes to the mailbox: the undo form has no password field and no
    sign-in button, says why, and undoes at a click."""
    src = accounts.new("undo-app")
    with accounts.client(src) as c:
        c.append("INBOX", b"From: a@example.net\r\nSubject: app\r\nMessage-ID: <app@example.net>\r\n\r\nhi\r\n", ())
    login = f"hal-{secrets.token_hex(3)}@example.test"
    graph_emu.add_user(login)
    page.goto(f"{web_url}/")
    fill_account(page, "source", accounts, src)
    page.select_option("#target-type", "graph")
    page.fill("#target-login", login)  # no sign-in: the organisation's app
    mid, st = start_and_finish(page, running_stack, src)
    assert st["state"] == "completed", st
    open_status(page, web_url, mid, src)
    expect(page.locator("#undo-form")).to_be_visible()
    expect(page.locator("#undo-password-field")).to_be_hidden()
    expect(page.locator("#undo-sign-in-field")).to_be_hidden()
    expect(page.locator("#undo-nothing-hint")).to_contain_text("no password is needed")
    page.click("#undo")
    wait_state(page, "undone")
    expect(page.locator("#undo-progress")).to_contain_text("1 message and")
    with rig.seeding(graph_emu, login) as g:
        assert g.get("/mailFolders/inbox/messages", params={"$select": "id"}).json()["value"] == []
