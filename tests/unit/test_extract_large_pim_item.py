"""A contact, event or script too large for one record is reported failed; the operation's other items go on.

The items topic takes 2 MiB a record: a contact with a photo of a few megabytes used to be sent anyway, the
broker refused it, and the operation's plan failed again on every retry.
"""

from __future__ import annotations

import base64
from typing import Any

from prometheus_client import CollectorRegistry

from services.extractor.service import Extractor
from shared.adapters.pim_items import MAX_RECORD_BYTES, pim_item, too_large
from shared.config import Settings
from shared.events import ItemResults, OperationPlanned, PimItem
from shared.metrics import ServiceMetrics
from tests.unit.test_extract_dropped_login import Producer

PHOTO = base64.b64encode(b"\xff\xd8" + b"x" * 2_400_000).decode()
BIG = f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big\r\nN:Big;;;;\r\nPHOTO;ENCODING=b;TYPE=JPEG:{PHOTO}\r\nEND:VCARD\r\n"
SMALL = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Small\r\nN:Small;;;;\r\nEND:VCARD\r\n"


def test_only_the_item_too_large_for_a_record_is_refused() -> None:
    big, small = pim_item("m1", "contacts", "a", "vcard", "Big", BIG), pim_item("m1", "contacts", "b", "vcard", "Small",
                                                                             SMALL)
    assert too_large(small) is None
    failed = too_large(big)
    assert failed is not None and failed.result == "failed" and failed.item_type == "contact"
    assert failed.item_key == big.item_key and failed.subject == "Big" and failed.bytes > MAX_RECORD_BYTES
    assert "too large" in failed.reason


def test_the_extractor_sends_the_others_and_reports_the_large_one() -> None:
    producer = Producer()
    ex = Extractor(Settings(), None, producer, None, ServiceMetrics(CollectorRegistry(), "extractor"))  # type: ignore[arg-type]
    big, small = pim_item("m1", "contacts", "a", "vcard", "Big", BIG), pim_item("m1", "contacts", "b", "vcard", "Small",
                                                                             SMALL)
    ex._publish_all("m1", "contacts", [big, small])
    sent: list[Any] = producer.sent
    assert [e.item_key for e in sent if isinstance(e, PimItem)] == [small.item_key]
    [plan] = [e for e in sent if isinstance(e, OperationPlanned)]
    assert plan.total == 2
    [results] = [e for e in sent if isinstance(e, ItemResults)]
    assert [(r.item_key, r.result) for r in results.results] == [(big.item_key, "failed")]
