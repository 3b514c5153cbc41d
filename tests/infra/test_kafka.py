"""Kafka (KRaft, one node) from the harness: produce a message and consume it in a group."""

from __future__ import annotations

import uuid

import pytest

from sre_cli.infra.kafka import KafkaServer

pytestmark = pytest.mark.integration


def test_cluster_is_one_unfenced_broker(kafka_server: KafkaServer) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_server.bootstrap)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert [(b["host"], b["port"], b["is_fenced"]) for b in cluster["brokers"]] == [
        ("127.0.0.1", kafka_server.port, False)
    ]


def test_produce_and_consume(kafka_server: KafkaServer) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    kafka_server.create_topics([topic])
    payload = f"feeding {uuid.uuid4().hex}".encode()

    producer = KafkaProducer(bootstrap_servers=kafka_server.bootstrap, acks="all")
    try:
        metadata = producer.send(topic, key=b"pen-3", value=payload).get(timeout=30)
    finally:
        producer.close()
    assert (metadata.topic, metadata.offset) == (topic, 0)

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_server.bootstrap,
        group_id=f"smoke-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        received = next(iter(consumer))
        consumer.commit()
    finally:
        consumer.close()
    assert (received.key, received.value) == (b"pen-3", payload)
