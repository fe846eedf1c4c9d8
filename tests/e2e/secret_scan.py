"""Reading everything a stack keeps (every topic's messages, the whole Redis keyspace) to look for secrets in it."""

from __future__ import annotations

import secrets

import redis as redis_lib
from confluent_kafka import Consumer, KafkaError, TopicPartition

from mailferry.stack import StackInfo


def all_topic_bytes(info: StackInfo) -> bytes:
    prefix = info.env["MAILFERRY_TOPIC_PREFIX"]
    # The end of a partition is the broker's end-of-partition event: offsets taken by transaction markers or
    # compaction never arrive as messages, so waiting to see the high watermark's offset waited for nothing.
    consumer = Consumer({"bootstrap.servers": info.kafka_bootstrap, "group.id": f"scan-{secrets.token_hex(4)}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    out = bytearray()
    try:
        topics = [t for t in consumer.list_topics(timeout=10).topics if t.startswith(prefix)]
        assert len(topics) >= 6
        for topic in topics:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for p in parts:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high <= low:
                    continue
                consumer.assign([TopicPartition(topic, p, low)])
                seen, ended = low, False
                while seen < high and not ended:
                    for m in consumer.consume(500, 5):
                        if m.error() is None:
                            out += (m.key() or b"") + (m.value() or b"")
                            seen = m.offset() + 1
                        elif m.error().code() == KafkaError._PARTITION_EOF:
                            ended = True
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
    return bytes(out)
