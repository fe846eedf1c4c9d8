"""A migration's report as CSV: what a sender wrote (a subject, a folder name) never runs as a spreadsheet formula."""

from __future__ import annotations

import csv
import io

from services.intake.intake import report_csv


def test_formula_cells_from_the_source_mailbox_are_made_inert() -> None:
    rows = [{"item_type": "email", "result": "failed", "folder": "@Inbox", "subject": "=HYPERLINK(\"http://x\",\"y\")",
             "bytes": 12, "reason": "-too large", "item_key": "1:2"},
            {"item_type": "email", "result": "skipped", "folder": "INBOX", "subject": "+1\tcalc", "bytes": 3,
             "reason": "outside the date window", "item_key": "1:3"}]
    got = list(csv.DictReader(io.StringIO(report_csv(rows))))
    assert [(r["folder"], r["subject"], r["reason"]) for r in got] == [
        ("'@Inbox", "'=HYPERLINK(\"http://x\",\"y\")", "'-too large"),
        ("INBOX", "'+1\tcalc", "outside the date window")]
    assert [r["bytes"] for r in got] == ["12", "3"]
