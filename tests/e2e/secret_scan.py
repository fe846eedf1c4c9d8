"""Reading everything a stack keeps (every topic's messages, the whole Redis keyspace) to look for secrets in it."""

from __future__ import annotations

import secrets
import time

import redis as redis_lib
from confluent_kafka import Consumer, KafkaError, TopicPartition

from mailferry.stack import StackInfo

SCAN_SECONDS = 120.0  # a stack's topics after a few migrations take about a second; a scan that never ends fails


def all_topic_bytes(info: StackInfo) -> bytes:
    """Every key and value on the stack's topics (its prefix), each partition read from its start to its end.

    All partitions are read at once and a partition is done at the broker's end-of-partition event: offsets
    taken by transaction markers or compaction never arrive as messages, so the event is the end, not the
    high watermark's offset. A batch call waits its whole timeout unless it fills up, so the timeout is short:
    one long wait per partition made a scan of a stack's forty partitions take over two minutes."""
    prefix = info.env["MAILFERRY_TOPIC_PREFIX"]
    consumer = Consumer({"bootstrap.servers": info.kafka_bootstrap, "group.id": f"scan-{secrets.token_hex(4)}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    out = bytearray()
    try:
        meta = consumer.list_topics(timeout=10).topics
        names = [t for t in meta if t.startswith(prefix)]
        assert len(names) >= 6
        pending: list[TopicPartition] = []
        for name in names:
            for p in meta[name].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
                if high > low:
                    pending.append(TopicPartition(name, p, low))
        unread = {(tp.topic, tp.partition) for tp in pending}
        consumer.assign(pending)
        deadline = time.monotonic() + SCAN_SECONDS
        while unread:
            assert time.monotonic() < deadline, f"partitions never reached their end: {sorted(unread)[:5]}"
            for m in consumer.consume(1000, 0.2):
                err = m.error()
                if err is None:
                    out += (m.key() or b"") + (m.value() or b"")
                elif err.code() == KafkaError._PARTITION_EOF:
                    unread.discard((str(m.topic()), int(m.partition() or 0)))
                elif err.fatal():
                    raise AssertionError(f"reading {m.topic()}[{m.partition()}]: {err}")
    finally:
        consumer.close()
    return bytes(out)


def all_redis_bytes(url: str) -> bytes:
    r = redis_lib.Redis.from_url(url)
    out = bytearray()
    for key in r.scan_iter(count=1000):
        out += key
        kind = r.type(key)
        if kind == b"string":
            out += r.get(key) or b""
        elif kind == b"hash":
            for a, b in r.hgetall(key).items():
                out += a + b
        elif kind == b"list":
            out += b"".join(r.lrange(key, 0, -1))
        elif kind == b"set":
            out += b"".join(r.smembers(key))
        elif kind == b"zset":  # delayed notifications, project listing, rate-limit and lease members
            out += b"".join(r.zrange(key, 0, -1))
    return bytes(out)
