"""The one way the service makes a Kafka producer: idempotent, ``acks=all``, bounded waits.

The API's publisher and the worker's producer (retries, dead letters) both use it::

    producer = idempotent_producer("127.0.0.1:9092", "aqua-worker", timeout_s=10.0)
    producer.send(topic, key=key, value=value).get(11.0)
"""

from __future__ import annotations

from typing import Any

#: Pinned: without a version the clients probe a broker that may be down, and block.
KAFKA_API_VERSION = (4, 0)


def idempotent_producer(
    bootstrap: str, client_id: str, timeout_s: float, linger_ms: int = 1
) -> Any:
    """A ``KafkaProducer`` whose every wait (metadata, request, delivery) ends within
    ``timeout_s``; the request timeout leaves room for the linger within the delivery one."""
    from kafka import KafkaProducer

    timeout_ms = int(timeout_s * 1000)
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_block_ms=timeout_ms,
        request_timeout_ms=max(1000, timeout_ms - linger_ms - 100),
        delivery_timeout_ms=timeout_ms,
        api_version=KAFKA_API_VERSION,
    )
