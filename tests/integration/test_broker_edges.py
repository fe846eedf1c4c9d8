"""The Kafka edge against the real broker: no topic created by accident, none used with other partitions,
and a producer that survives the broker losing its state."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from mailferry import stack
from services.intake.migration_start import NOT_QUEUED, MigrationDraft, create_migration
from shared import kafka_edge, redis_keys
from shared.credential_seal import MasterKeys
from shared.events import EndpointSpec, Event
from shared.migration_records import RecordLog, RecordState, read_record
from shared.status_store import StatusStore
from shared.topics import ITEMS_FAILED, MIGRATIONS_RECORD, MIGRATIONS_REQUESTED, TOPICS, TopicSpec
from shared.view_rebuild import read_topics
from tests.chaos.fault_proxy import FaultProxy
from tests.servers import Process, start_broker


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Process]:
    p = start_broker(tmp_path / "broker.log")
    yield p
    p.stop()


def topics_of(bootstrap: str, prefix: str) -> dict[str, int]:
    found = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
    return {name: len(meta.partitions) for name, meta in found.items() if name.startswith(prefix)}


def test_topics_are_created_as_configured_and_refused_when_they_differ(broker: Process) -> None:
    prefix = f"e{secrets.token_hex(3)}."
    kafka_edge.ensure_topics(broker.address, prefix, 3)
    assert topics_of(broker.address, prefix) == {t.full_name(prefix): 3 for t in TOPICS}
    kafka_edge.ensure_topics(broker.address, prefix, 3)  # again: nothing to do, nothing refused
    with pytest.raises(kafka_edge.TopicMismatch) as refused:
        kafka_edge.ensure_topics(broker.address, prefix, 12)
    for t in TOPICS:
        assert f"topic {t.full_name(prefix)} has 3 partitions, the configuration says 12" in str(refused.value)


def test_a_service_refuses_to_start_on_topics_with_other_partitions(broker: Process, tmp_path: Path) -> None:
    prefix = f"m{secrets.token_hex(3)}."
    kafka_edge.ensure_topics(broker.address, prefix, 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFERRY_")}
    env.update({"MAILFERRY_KAFKA_BOOTSTRAP": broker.address, "MAILFERRY_REDIS_URL": "redis://127.0.0.1:1/0",
                "MAILFERRY_TOPIC_PREFIX": prefix, "MAILFERRY_TOPIC_PARTITIONS": "5", "MAILFERRY_HTTP_PORT": "0",
                "MAILFERRY_SECRET_KEY": "k:" + "A" * 43 + "=", "MAILFERRY_STATE_DIR": str(tmp_path)})
    for service in ("loader", "intake"):
        done = subprocess.run([sys.executable, "-m", "mailferry.cli", "service", service], env=env,
                              capture_output=True, timeout=120, check=False)
        assert done.returncode == 2, (service, done.stderr[-2000:])
        assert f"topic {prefix}items has 2 partitions, the configuration says 5" in done.stderr.decode(), service


def test_producing_to_a_missing_topic_never_creates_it(broker: Process) -> None:
    prefix = f"a{secrets.token_hex(3)}."
    producer = kafka_edge.EventProducer(kafka_edge.make_producer(broker.address, **{"message.timeout.ms": 3000}),
                                        prefix)
    producer.send_raw(ITEMS_FAILED, "k", b"v")
    with pytest.raises(kafka_edge.DeliveryFailed):
        producer.flush(20)
    consumer = Consumer({"bootstrap.servers": broker.address, "group.id": f"{prefix}g",
                         "allow.auto.create.topics": False})
    consumer.subscribe([ITEMS_FAILED.full_name(prefix)])
    consumer.poll(2)
    consumer.close()
    assert topics_of(broker.address, prefix) == {}


def test_the_producer_is_rebuilt_when_the_broker_comes_back_without_its_state(own_broker: Process) -> None:
    """The broker restarted empty no longer knows the idempotent producer's id: without a rebuild every later
    send fails (``Unknown Producer Id``, fatal). Each record is sent until a flush succeeds, as a worker does."""
    prefix = f"p{secrets.token_hex(3)}."
    kafka_edge.ensure_topics(own_broker.address, prefix, 1)
    producer = kafka_edge.event_producer(own_broker.address, prefix, **{"message.timeout.ms": 5000})
    sent = [f"before-{i}".encode() for i in range(20)]
    for value in sent:
        producer.send_raw(ITEMS_FAILED, "k", value)
    producer.flush(30)
    own_broker.stop()
    own_broker.start_again()
    kafka_edge.after_outage(lambda: kafka_edge.ensure_topics(own_broker.address, prefix, 1), producer)
    after = [f"after-{i}".encode() for i in range(20)]
    failures = 0
    while True:
        for value in after:
            producer.send_raw(ITEMS_FAILED, "k", value)
        try:
            producer.flush(30)
            break
        except kafka_edge.DeliveryFailed:
            failures += 1
            assert failures < 5, "the producer never sent again"
    assert producer.rebuilds >= 1
    consumer = Consumer({"bootstrap.servers": own_broker.address, "group.id": f"{prefix}g",
                         "auto.offset.reset": "earliest", "allow.auto.create.topics": False})
    consumer.subscribe([ITEMS_FAILED.full_name(prefix)])
    got: list[bytes] = []
    for _ in range(60):
        got += [m.value() or b"" for m in consumer.consume(100, 1.0) if m.error() is None]
        if set(after) <= set(got):
            break
    consumer.close()
    assert set(got) >= set(after), got  # the records sent before the restart were lost with the broker's memory


def test_a_migration_whose_request_the_broker_did_not_take_is_failed_not_left_queued(
        tmp_path: Path, redis_client: redis_lib.Redis) -> None:
    """Recorded, then the broker stops answering as the request is sent: without an answer the migration would
    wait in ``queued`` for ever. It is ``failed`` at once with the reason (intake answers 503: the error is
    raised), its data key gone, and once the broker is back the record says ``failed`` too."""
    proxy_port = stack.free_port()
    own = start_broker(tmp_path / "broker.log", advertised_port=proxy_port)
    proxy = FaultProxy(own.port, listen_port=proxy_port)
    try:
        bootstrap, prefix = f"127.0.0.1:{proxy_port}", f"q{secrets.token_hex(3)}."
        kafka_edge.ensure_topics(bootstrap, prefix, 1)
        producer = kafka_edge.event_producer(bootstrap, prefix)
        store = StatusStore(redis_client, RecordLog(producer, "intake"))
        sent: list[str] = []

        class BrokerStops:
            """The intake's producer, with the broker going away just as the request is handed over."""

            def send(self, spec: TopicSpec, key: str, event: Event) -> None:
                if spec is MIGRATIONS_REQUESTED:
                    sent.append(key)
                    proxy.unreachable(10)
                producer.send(spec, key, event)

            def send_raw(self, spec: TopicSpec, key: str, value: bytes | None) -> None:
                producer.send_raw(spec, key, value)

            def flush(self, timeout: float = 60.0) -> None:
                producer.flush(min(timeout, 3))

        spec = EndpointSpec(type="imap", host="mail.example.test", port=993, security="tls", login="",
                            password_sealed="")
        draft = MigrationDraft(source=spec.model_copy(update={"login": "a@example.test"}),
                               target=spec.model_copy(update={"login": "b@example.test"}),
                               passwords=("pw-a", "pw-b"), options=["emails"], notify_email=None, pair_id="p1",
                               login="a@example.test")
        keys = MasterKeys.parse("k:" + "A" * 43 + "=")
        with pytest.raises(kafka_edge.DeliveryFailed):
            create_migration(store, BrokerStops(), keys, draft)
        [mid] = sent
        fields = store.fields(mid)
        assert fields["state"] == "failed"
        assert fields["error"] == NOT_QUEUED and fields["error_code"] == "not_queued" and fields["finished_at"]
        assert redis_client.get(redis_keys.data_key(mid)) is None

        time.sleep(10)  # the broker answers again: what the producer still held reaches the record
        producer.flush(60)
        states: dict[str, RecordState] = {}
        for _topic, key, value in read_topics(bootstrap, prefix, [MIGRATIONS_RECORD]):
            read_record(states, key, value)
        record = states[mid]
        assert record.fields is not None and record.fields["state"] == "failed"
        assert record.fields["error"] == NOT_QUEUED
        assert [h["state"] for h in record.history or []] == ["queued", "failed"]
        assert record.dek is None  # tombstoned: nothing can unseal its passwords
    finally:
        proxy.close()
        own.stop()
