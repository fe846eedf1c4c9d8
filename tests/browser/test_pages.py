"""The web pages in a real browser (Debian's Chromium through Playwright) against the real stack.

Migrations are started from the form between two Dovecot accounts and followed on the status page;
errors, cancel, undo, the German page and the absence of passwords after submission are checked as a
user sees them. Every page and state is saved as a screenshot (artifacts/browser/, the README's ones
also in docs/screenshots/).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, Route, expect

from mailferry import seed
from tests.bench.latency_proxy import LatencyProxy
from tests.browser.conftest import Screenshots
from tests.conftest import Accounts

FINAL_TIMEOUT = 240_000  # ms: a migration or an undo followed on the page


def fill_account(page: Page, side: str, accounts: Accounts, login: str, *, password: str | None = None,
                 port: int | None = None) -> None:
    page.select_option(f"#{side}-type", "imap")
    page.fill(f"#{side}-login", login)
    page.fill(f"#{side}-host", "127.0.0.1")
    page.select_option(f"#{side}-security", "none")
    page.fill(f"#{side}-port", str(port or accounts.server.imap_port))
    page.fill(f"#{side}-password", accounts.passwords[login] if password is None else password)


def start_from_form(page: Page, web_url: str, accounts: Accounts, src: str, dst: str,
                    src_port: int | None = None) -> str:
    page.goto(f"{web_url}/")
    fill_account(page, "source", accounts, src, port=src_port)
    fill_account(page, "target", accounts, dst)
    page.click("#start")
    expect(page.locator("#done")).to_be_visible(timeout=60_000)
    mid = page.locator("#migration-id").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", mid), mid
    return mid


def open_status(page: Page, web_url: str, mid: str, login: str) -> None:
    page.goto(f"{web_url}/status?id={mid}")
    expect(page.locator("#mid")).to_have_value(mid)  # the deep link fills in the ID ...
    page.fill("#login", login)  # ... never the login
    page.click("#show")
    expect(page.locator("#status-view")).to_be_visible()
    assert "login" not in page.url and login not in page.url


def counts(page: Page, item: str) -> dict[str, int]:
    loc = page.locator(f'#items .item[data-item="{item}"] .item-counts')
    return {k: int(loc.get_attribute(f"data-{k}") or -1) for k in ("done", "skipped", "failed", "total")}


def wait_state(page: Page, state: str, timeout: float = FINAL_TIMEOUT) -> None:
    expect(page.locator("#state-badge")).to_have_attribute("data-state", state, timeout=timeout)


def message_count(accounts: Accounts, login: str) -> int:
    with accounts.client(login) as c:
        return sum(int(c.folder_status(name, ["MESSAGES"])[b"MESSAGES"]) for flags, _d, name in c.list_folders()
                   if b"\\Noselect" not in flags and b"\\NonExistent" not in flags)


def test_full_migration_from_the_form_followed_to_completed(page: Page, web_url: str, accounts: Accounts,
                                                             shot: Screenshots) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    layout = seed.plan_mailbox(60, with_corpus=False)
    with accounts.client(src) as c:
        seed.seed(c, layout)
    page.goto(f"{web_url}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "new-migration-empty")
    fill_account(page, "source", accounts, src)
    fill_account(page, "target", accounts, dst)
    # IMAP → IMAP: e-mails and rules are offered, the Exchange-only items are not, and the page says why.
    expect(page.locator("#option-emails")).to_be_enabled()
    expect(page.locator("#option-rules")).to_be_enabled()
    for op in ("contacts", "contact_groups", "calendars", "tasks", "auto_reply"):
        expect(page.locator(f"#option-{op}")).to_be_disabled()
    expect(page.locator("#options-reason")).to_contain_text("e-mails and rules")
    page.fill("#notify-email", "owner@customer.test")
    shot(page, "new-migration", docs=True)
    page.click("#start")
    expect(page.locator("#done")).to_be_visible(timeout=60_000)
    mid = page.locator("#migration-id").inner_text().strip()
    expect(page.locator("#done")).to_contain_text("Keep this ID")
    shot(page, "new-migration-started", docs=True)

    page.click("#follow-link")
    expect(page).to_have_url(re.compile(r"/status\?id="))
    expect(page.locator("#mid")).to_have_value(mid)
    page.fill("#login", src)
    page.click("#show")
    wait_state(page, "completed")
    expect(page.locator("#state-text")).to_have_text("Completed")
    total = sum(len(v) for v in layout.values())
    assert counts(page, "emails") == {"done": total, "skipped": 0, "failed": 0, "total": total}
    expect(page.locator('#items .item[data-item="emails"] .item-counts')).to_have_text(
        f"{total} done · 0 skipped · 0 failed · of {total}")
    folders = counts(page, "folders")
    assert folders["done"] == folders["total"] > 0 and folders["failed"] == 0
    expect(page.locator('#items .item[data-item="emails"] progress')).to_have_attribute("value", str(total))
    expect(page.locator("#errors")).to_have_text("No errors.")
    expect(page.locator("#cancel-box")).to_be_hidden()
    expect(page.locator("#undo-form")).to_be_visible()
    expect(page.locator("#undo-until")).to_contain_text("Possible until")
    href = page.locator("#report-link").get_attribute("href") or ""
    assert href.startswith(f"/api/v1/migrations/{mid}/report?login=") and href.endswith("&format=csv")
    assert page.request.get(f"{web_url}{href}").status == 200
    expect(page.locator("#refresh-note")).to_contain_text("Last update")
    shot(page, "status-completed", docs=True)
    assert message_count(accounts, dst) == total


def test_wrong_passwords_and_servers_are_shown_next_to_their_fields(page: Page, web_url: str, accounts: Accounts,
                                                                     shot: Screenshots) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    page.goto(f"{web_url}/")
    fill_account(page, "source", accounts, src)
    fill_account(page, "target", accounts, dst, password="not-the-password")
    page.click("#start")
    target_error = page.locator("#target-password-error")
    expect(target_error).to_be_visible(timeout=60_000)
    expect(target_error).to_contain_text("The server refused this login or password.")
    expect(page.locator("#target-password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#target-password")).to_have_value("")  # a refused password is not kept
    expect(page.locator("#source-password-error")).to_be_hidden()
    expect(page.locator("#form-error")).to_be_hidden()
    expect(page.locator("#done")).to_be_hidden()
    shot(page, "error-wrong-password", docs=True)

    # The source side's password, then an unreachable source server, each next to its own field.
    page.fill("#source-password", "also-wrong")
    page.fill("#target-password", accounts.passwords[dst])
    page.click("#start")
    expect(page.locator("#source-password-error")).to_contain_text("refused this login", timeout=60_000)
    expect(page.locator("#target-password-error")).to_be_hidden()
    page.fill("#source-password", accounts.passwords[src])
    page.fill("#source-port", "1")  # nothing listens there
    page.click("#start")
    expect(page.locator("#source-host-error")).to_contain_text("could not be reached", timeout=60_000)
    expect(page.locator("#source-password-error")).to_be_hidden()
    shot(page, "error-server-unreachable")


def test_cancel_and_undo_from_the_status_page(page: Page, web_url: str, accounts: Accounts,
                                              shot: Screenshots) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    layout = seed.plan_mailbox(4000, with_corpus=False)
    with accounts.client(src) as c:
        seed.seed(c, layout)
    # The source sits behind a slow link (600 ms round trips), as a distant server would: on the bare
    # local server the whole copy ends before the page's next refresh, and there would be nothing to cancel.
    with LatencyProxy(accounts.server.imap_port, rtt_ms=600) as slow:
        mid = start_from_form(page, web_url, accounts, src, dst, src_port=slow.port)
        open_status(page, web_url, mid, src)
        cancel = page.locator("#cancel")
        expect(cancel).to_be_visible()
        # Cancel once copying has begun (the page refreshes itself): the running step finishes, then it stops.
        emails = page.locator('#items .item[data-item="emails"] .item-counts')
        expect(emails).not_to_have_attribute("data-done", "0", timeout=120_000)
        cancel.click()
        shot(page, "status-running", docs=False)
        expect(page.locator("#state-badge")).to_have_attribute("data-state", re.compile("cancelling|cancelled"))
        wait_state(page, "cancelled")
    expect(page.locator("#state-text")).to_have_text("Cancelled")
    expect(cancel).to_be_hidden()
    copied = counts(page, "emails")
    assert copied["done"] + copied["skipped"] + copied["failed"] == copied["total"]  # the running step finished
    assert copied["total"] == 4000
    assert message_count(accounts, dst) == copied["done"]

    undo_form = page.locator("#undo-form")
    expect(undo_form).to_be_visible()
    expect(page.locator("#undo-until")).to_contain_text(re.compile(r"Possible until \d"))
    page.fill("#undo-password", accounts.passwords[dst])
    shot(page, "status-undo", docs=True)
    page.fill("#undo-password", "not-the-password")
    page.click("#undo")
    expect(page.locator("#undo-password-error")).to_contain_text("refused this login", timeout=60_000)
    expect(page.locator("#undo-password")).to_have_value("")
    expect(page.locator("#state-badge")).to_have_attribute("data-state", "cancelled")  # nothing started
    shot(page, "status-undo-wrong-password")
    page.fill("#undo-password", accounts.passwords[dst])
    expect(page.locator("#undo-password-error")).to_be_hidden()  # typing again clears the old message
    page.click("#undo")
    expect(page.locator("#state-badge")).to_have_attribute("data-state", re.compile("undoing|undone"), timeout=60_000)
    expect(page.locator("#undo-password")).to_have_value("")
    wait_state(page, "undone")
    expect(page.locator("#state-text")).to_have_text("Undone")
    expect(page.locator("#undo-progress")).to_contain_text(f"{copied['done']:,} messages")
    expect(undo_form).to_be_hidden()
    shot(page, "status-undone")
    assert message_count(accounts, dst) == 0
    assert accounts.passwords[dst] not in page.content()


def test_german_page_and_switching_to_english(german_page: Page, web_url: str, shot: Screenshots) -> None:
    page = german_page
    page.goto(f"{web_url}/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Migration starten")
    expect(page.locator('label[for="source-password"]')).to_have_text("Passwort")
    expect(page.locator('label[for="source-host"]')).to_have_text("Server")
    expect(page.locator('label[for="source-security"]')).to_have_text("Verschlüsselung")
    expect(page.locator("#source-detect")).to_have_text("Einstellungen erkennen")
    expect(page.locator("#start")).to_have_text("Migration starten")
    expect(page.locator("#options-reason")).to_contain_text("Zwischen zwei IMAP-Konten")
    expect(page.locator("#lang-select")).to_have_value("de")
    assert page.title() == "Neue Migration – mailferry"
    shot(page, "new-migration-de", docs=True)

    page.select_option("#lang-select", "en")  # the visible control
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Start a migration")
    expect(page.locator('label[for="source-password"]')).to_have_text("Password")
    expect(page.locator("#options-reason")).to_contain_text("Between two IMAP accounts")
    page.reload()  # the choice is remembered although the browser still asks for German
    expect(page.locator("h1")).to_have_text("Start a migration")
    page.goto(f"{web_url}/status")
    expect(page.locator("h1")).to_have_text("Follow a migration")
    page.goto(f"{web_url}/status?lang=de")  # an explicit ?lang= wins
    expect(page.locator("h1")).to_have_text("Migration verfolgen")
    expect(page.locator('label[for="login"]')).to_have_text("Anmeldung des Quellkontos")
    page.goto(f"{web_url}/pst?lang=de")
    expect(page.locator("h1")).to_have_text("PST-Datei importieren")
    shot(page, "pst-de")



def test_counts_take_the_noun_in_the_right_number_in_both_languages(german_page: Page, web_url: str) -> None:
    """The page's own translation function, with formatted counts as the pages pass them."""
    page = german_page
    page.goto(f"{web_url}/status?lang=de")
    params = {"done": "4", "total": "4", "messages": "1", "folders": "2", "settings": "1.234"}
    assert page.evaluate("p => MF.t('undo.progress', p)", params) == (
        "Rückgängig: 4 von 4 Schritten · 1 Nachricht und 2 Ordner entfernt · 1.234 Einstellungen wiederhergestellt")
    page.goto(f"{web_url}/status?lang=en")
    params = {"done": "1", "total": "1", "messages": "1,001", "folders": "1", "settings": "0"}
    assert page.evaluate("p => MF.t('undo.progress', p)", params) == (
        "Undo: 1 of 1 step · 1,001 messages and 1 folder removed · 0 settings restored")
    assert page.evaluate("MF.t('operator.summary', {state: 'running', done: '0', total: '1', ended: '0', rows: '1'})"
                         ) == "running: 0 of 1 message copied; 0 of 1 row ended."

def test_no_password_remains_in_the_page_after_submission(page: Page, web_url: str, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(5, with_corpus=False))
    secrets = (accounts.passwords[src], accounts.passwords[dst])
    mid = start_from_form(page, web_url, accounts, src, dst)
    values = page.eval_on_selector_all("input, select, textarea", "els => els.map(e => e.value)")
    attributes = page.eval_on_selector_all(
        "*", "els => els.flatMap(e => Array.from(e.attributes).map(a => a.value))")
    html = page.content()
    text = page.evaluate("document.documentElement.innerText")
    storage = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    for pw in secrets:
        assert all(pw not in v for v in values)
        assert all(pw not in a for a in attributes)
        assert pw not in html and pw not in text and pw not in storage
        assert pw not in page.url
    for field in ("#source-password", "#target-password"):
        expect(page.locator(field)).to_have_value("")
    assert mid in html
    # The back/forward cache and a reload bring no password back either.
    page.reload()
    for field in ("#source-password", "#target-password"):
        expect(page.locator(field)).to_have_value("")


def test_pst_page_shows_upload_progress_and_the_servers_answer(page: Page, web_url: str, accounts: Accounts,
                                                               shot: Screenshots) -> None:
    dst = accounts.new("dst")
    page.goto(f"{web_url}/pst")
    expect(page.locator("h1")).to_have_text("Import a PST file")
    page.set_input_files("#pst-file", files=[{"name": "archive-2019.pst", "mimeType": "application/vnd.ms-outlook",
                                               "buffer": b"!BDN" + bytes(2 * 1024 * 1024)}])
    fill_account(page, "target", accounts, dst)
    expect(page.locator("#options-reason")).to_contain_text("an IMAP account can only receive e-mails")
    shot(page, "pst", docs=True)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/pst-migrations")) as answer:
        page.click("#start")
    headers = answer.value.request.all_headers()
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert int(headers.get("content-length", "0")) > 2 * 1024 * 1024
    # The upload reported its progress (XMLHttpRequest upload events) up to the end.
    assert page.locator("#upload-progress").evaluate("e => e.value") == 100
    if answer.value.status in (404, 405):
        # Until the endpoint exists intake answers 404/405: the page says so in plain words.
        error = page.locator("#form-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("PST import is not available on this server yet.")
        expect(error).to_contain_text("Server message:")
        shot(page, "pst-unavailable")
    elif answer.value.status == 202:
        expect(page.locator("#done")).to_be_visible()
        expect(page.locator("#target-password")).to_have_value("")
        shot(page, "pst-started")
    else:  # e.g. the endpoint exists and refuses this fake file: its message is shown, not a raw page
        expect(page.locator(".field-error:visible, #form-error:visible").first).to_contain_text("Server message:")
        shot(page, "pst-refused")


def test_detect_settings_fills_the_fields_and_says_where_they_came_from(page: Page, web_url: str,
                                                                         shot: Screenshots) -> None:
    """The button's behaviour with the autodetect API's answers (given here by the browser, so that this checks
    the page alone): a hit fills server, port and security; a 404 or a failure leaves the fields to the user."""
    answers: dict[str, tuple[int, dict[str, object]]] = {
        "anna@mx-plan.test": (200, {"email": "anna@mx-plan.test", "suggestions": [
            {"protocol": "ews", "host": "ex.mx-plan.test", "port": 443, "security": "tls", "source": "autodiscover"},
            {"protocol": "imap", "host": "imap.mx-plan.test", "port": 993, "security": "tls", "source": "builtin"},
            {"protocol": "pop3", "host": "pop.mx-plan.test", "port": 995, "security": "tls", "source": "srv"}]}),
        "ben@nowhere.test": (404, {"detail": "Not Found"}),
        "carl@broken.test": (500, {"error": {"code": "internal", "message": "boom"}}),
        "dora@unknown.test": (404, {"error": {"code": "not_found", "message": "no server settings could be found",
                                              "side": None, "field": "email"}}),
    }

    def answer(route: Route) -> None:
        status, body = answers[parse_qs(urlparse(route.request.url).query)["email"][0]]
        route.fulfill(status=status, json=body)

    page.route("**/api/v1/autodetect?*", answer)
    page.goto(f"{web_url}/")
    page.fill("#source-login", "anna@mx-plan.test")
    page.click("#source-detect")  # type IMAP: the first IMAP suggestion, not the first one
    expect(page.locator("#source-host")).to_have_value("imap.mx-plan.test")
    expect(page.locator("#source-port")).to_have_value("993")
    expect(page.locator("#source-security")).to_have_value("tls")
    expect(page.locator("#source-detect-status")).to_contain_text("the list of well-known providers")
    page.select_option("#target-type", "detect")
    page.fill("#target-login", "anna@mx-plan.test")
    page.click("#target-detect")  # "detect from my address": the first suggestion a target can be
    expect(page.locator("#target-type")).to_have_value("ews")
    expect(page.locator("#target-host")).to_have_value("ex.mx-plan.test")
    expect(page.locator("#target-detect-status")).to_contain_text("Exchange Autodiscover")
    # IMAP into Exchange: only e-mails, with the reason.
    expect(page.locator("#option-rules")).to_be_disabled()
    expect(page.locator("#options-reason")).to_contain_text("only e-mails can be migrated")
    shot(page, "new-migration-detected")

    page.select_option("#source-type", "pop3")
    page.fill("#source-login", "ben@nowhere.test")
    page.click("#source-detect")
    expect(page.locator("#source-detect-status")).to_have_text(
        "Automatic detection is not available on this service. Please enter the server settings yourself.")
    page.fill("#source-host", "pop.nowhere.test")  # still editable
    expect(page.locator("#source-host")).to_have_value("pop.nowhere.test")
    expect(page.locator("#source-port")).to_be_editable()
    page.fill("#source-login", "carl@broken.test")
    page.click("#source-detect")
    expect(page.locator("#source-detect-status")).to_contain_text("could not be detected")
    expect(page.locator("#source-host")).to_have_value("pop.nowhere.test")
    page.fill("#source-login", "dora@unknown.test")  # the real endpoint's "nothing found"
    page.click("#source-detect")
    expect(page.locator("#source-detect-status")).to_have_text(
        "No settings were found for this address. Please enter them yourself.")
    expect(page.locator("#options-reason")).to_contain_text("POP3")


def test_the_options_offered_are_the_rules_intake_serves(page: Page, web_url: str) -> None:
    """The form reads GET /api/v1/option-rules (shared/adapters/registry.py): it offers what intake accepts, no more."""
    page.goto(f"{web_url}/pst")
    page.select_option("#target-type", "ews")
    for op in ("emails", "contacts", "contact_groups", "calendars", "tasks"):
        expect(page.locator(f"#option-{op}")).to_be_enabled()
    for op in ("rules", "auto_reply"):  # they live on the server, not in a PST file: the upload refuses them
        expect(page.locator(f"#option-{op}")).to_be_disabled()
    expect(page.locator("#options-reason")).to_contain_text("Everything in the PST file")
    page.goto(f"{web_url}/")
    page.select_option("#source-type", "ews")
    page.select_option("#target-type", "ews")
    expect(page.locator("#options-reason")).to_contain_text("Between two Exchange accounts")
    for op in ("contacts", "rules", "auto_reply"):
        expect(page.locator(f"#option-{op}")).to_be_enabled()

    # Without the rules (intake not answering) the page offers e-mails only, which every pair takes.
    page.route("**/api/v1/option-rules", lambda route: route.fulfill(status=503, json={"detail": "down"}))
    with page.expect_response(lambda r: r.url.endswith("/api/v1/option-rules")) as answer:
        page.goto(f"{web_url}/")
    assert answer.value.status == 503
    page.select_option("#source-type", "ews")
    page.select_option("#target-type", "ews")
    expect(page.locator("#options-reason")).to_contain_text("Between two Exchange accounts")
    expect(page.locator("#option-emails")).to_be_enabled()
    expect(page.locator("#option-emails")).to_be_checked()
    for op in ("contacts", "rules", "auto_reply"):
        expect(page.locator(f"#option-{op}")).to_be_disabled()


def test_the_account_types_and_their_ports_come_from_intake(page: Page, web_url: str) -> None:
    """The form knows no system by name: each type's usual ports and security are on its option (the registry's)."""
    page.goto(f"{web_url}/")
    expect(page.locator("#source-port")).to_have_value("993")  # IMAP over TLS, the form's first type
    page.select_option("#source-security", "starttls")
    expect(page.locator("#source-port")).to_have_value("143")
    page.select_option("#source-type", "pop3")
    expect(page.locator("#source-port")).to_have_value("110")
    page.select_option("#source-type", "ews")  # Exchange is HTTPS: the form goes back to TLS, port 443
    expect(page.locator("#source-security")).to_have_value("tls")
    expect(page.locator("#source-port")).to_have_value("443")
    page.fill("#source-port", "8443")  # a port of the user's own stays
    page.select_option("#source-type", "imap")
    expect(page.locator("#source-port")).to_have_value("8443")
    assert page.locator("#target-type option").evaluate_all("os => os.map(o => o.value)") == [
        "imap", "ews", "graph", "detect"]
