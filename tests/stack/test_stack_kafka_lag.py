"""Consumer lag at the broker (sre_cli/stack/kafkalag.py) against a real Kafka: committed
offsets of a group against its partitions' end offsets, whether a member is alive or not, in
the exposition the stack agent serves."""

from __future__ import annotations

import os
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sre_cli.stack.kafkalag import BrokerLag, lag_lines

pytestmark = pytest.mark.integration


def _samples(lines: list[str]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families("\n".join(lines) + "\n"):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_lag_is_end_minus_committed_with_no_member_alive(kafka_server: Any) -> None:
    from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

    topic, group = f"lag-{os.urandom(3).hex()}", f"group-{os.urandom(3).hex()}"
    kafka_server.create_topics([topic], partitions=2)
    producer = KafkaProducer(bootstrap_servers=kafka_server.bootstrap)
    for i in range(10):
        producer.send(topic, value=b"x", partition=i % 2)  # 5 per partition
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_server.bootstrap, group_id=group, enable_auto_commit=False
    )
    consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(3, "", -1)})
    consumer.close()  # the group has no member left: only the broker knows its lag

    reader = BrokerLag(kafka_server.bootstrap, timeout_s=5.0)
    try:
        rows = [r for r in reader.read() if r.group == group]
        again = [r for r in reader.read() if r.group == group]  # the client is reused
    finally:
        reader.close()
    by_partition = {r.partition: (r.committed, r.end, r.lag) for r in rows}
    # partition 1 was never committed on: its whole log is unread
    assert by_partition == {0: (3, 5, 2), 1: (0, 5, 5)}
    assert again == rows

    samples = _samples(lag_lines(rows))
    assert samples[("aqua_stack_kafka_lag_up", ())] == 1
    labels = (("consumergroup", group), ("partition", "0"), ("topic", topic))
    assert samples[("kafka_consumergroup_lag", labels)] == 2
    per_topic = (("consumergroup", group), ("topic", topic))
    assert samples[("kafka_consumergroup_lag_sum", per_topic)] == 7


def test_a_broker_that_does_not_answer_is_an_error_and_lag_up_0() -> None:
    reader = BrokerLag("127.0.0.1:1", timeout_s=0.5)
    with pytest.raises(Exception):  # noqa: B017 - kafka-python's errors have no common base here
        reader.read()
    reader.close()
    assert _samples(lag_lines(None)) == {("aqua_stack_kafka_lag_up", ()): 0}
