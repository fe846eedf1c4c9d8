"""The operator page in Chromium against the real stack: projects listed, a project's rows filtered by state.

A project of three rows (two that complete, one whose source refuses its password) is created and run through
the operator API; the page shows it as an operator sees it. The project's name is markup on purpose: the page
must show it as text.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from mailferry import seed
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.browser.conftest import Screenshots
from tests.conftest import Accounts
from tests.operator_rig import HEADER, OPERATOR_KEY, api, create, project_in, project_stack, row, smtp

__all__ = ["project_stack", "smtp"]  # the module's stack and SMTP relay (fixtures)
HOSTILE_NAME = 'Move <img src=x onerror="document.title=\'pwned\'"> 2026'


def test_the_operator_page_lists_projects_and_filters_rows_by_state(
        page: Page, project_stack: StackInfo, accounts: Accounts, dovecot: DovecotServer, shot: Screenshots) -> None:
    sources = [accounts.new("osrc") for _ in range(3)]
    targets = [accounts.new("odst") for _ in range(3)]
    for n, login in enumerate(sources):
        with accounts.client(login) as c:
            seed.seed(c, seed.plan_mailbox(10 + 5 * n, seed=n, folders=("INBOX", "Work"), with_corpus=False))
    pw = accounts.passwords
    body = HEADER + row(dovecot, sources[0], pw[sources[0]], targets[0], pw[targets[0]]) \
        + row(dovecot, sources[1], "wrong-password", targets[1], pw[targets[1]]) \
        + row(dovecot, sources[2], pw[sources[2]], targets[2], pw[targets[2]])
    created = create(project_stack, body.encode(), name=HOSTILE_NAME)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert api(project_stack, "POST", f"/projects/{pid}/start").status_code == 202
    project_in(project_stack, pid, "ended")

    page.goto(f"{project_stack.intake_url}/operator")
    expect(page.locator('footer a[aria-current="page"]')).to_have_text("Projects (operators)")
    page.fill("#operator-key", "mfo_not-a-key")
    page.click("#show-projects")
    expect(page.locator("#form-error")).to_have_text("This key is not an operator key.")
    page.fill("#operator-key", OPERATOR_KEY)
    page.click("#show-projects")
    listed = page.locator("#projects tbody tr", has_text="Move <img")
    expect(listed).to_have_count(1)
    expect(listed.locator("td").nth(1)).to_have_text("Ended")
    expect(listed.locator("td").nth(2)).to_have_text("3")
    assert page.title() != "pwned" and page.locator("#projects img").count() == 0
    expect(page.locator("#form-error")).to_be_hidden()

    listed.locator("button").click()
    expect(page.locator("#project-name")).to_have_text(HOSTILE_NAME)
    rows = page.locator("#rows tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#project-summary")).to_contain_text("3 of 3 rows ended")
    shot(page, "operator-projects", docs=True)
    page.select_option("#state-filter", "failed")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").nth(1)).to_have_text(sources[1])
    expect(rows.first.locator("td").nth(3)).to_have_text("Failed")
    page.select_option("#state-filter", "completed")
    expect(rows).to_have_count(2)
    expect(rows.locator("td:nth-child(4)")).to_have_text(["Completed", "Completed"])
    expect(rows.locator("td:nth-child(5)")).to_have_text(["10 / 10", "20 / 20"])
    # The key is in no URL and in no cookie.
    assert OPERATOR_KEY not in page.url and not page.context.cookies()
