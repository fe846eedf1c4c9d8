"""Turning a message no one can process into a dead letter, the same way in every service."""

from __future__ import annotations

from shared import topics
from shared.edges import Delivered, ProducerEdge
from shared.errors import MailferryError
from shared.events import DeadLetter
from shared.kafka_edge import position
from shared.metrics import ServiceMetrics


def send_undecodable(producer: ProducerEdge, metrics: ServiceMetrics, msg: Delivered, exc: MailferryError) -> None:
    """Record it on ``items.failed`` with the reason, count it, and let the caller move on."""
    metrics.dead_letter(exc.code)
    raw = msg.value() or b""
    topic, partition, offset = position(msg)
    producer.send(topics.ITEMS_FAILED, "unknown", DeadLetter(
        migration_id="unknown", service=metrics.service, code=exc.code, reason=str(exc), topic=topic,
        partition=partition, offset=offset, excerpt=raw[:200].decode("utf-8", "replace")))
    producer.flush()
