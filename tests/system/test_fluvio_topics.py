"""The fluvio topics backend against a real Fluvio cluster.

Runs only when a cluster is named: ``FLUVIO_ENDPOINT=host:port make test`` (the shared conftest
keeps the value in ``FLUVIO_SYSTEM_ENDPOINT`` so the other tests stay on the embedded log).
Skipped otherwise; a skip is never a pass.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from fluvio_connectors.errors import TopicNotFoundError
from fluvio_connectors.topics.fluvio import FluvioTopics

ENDPOINT = os.environ.get("FLUVIO_SYSTEM_ENDPOINT") or os.environ.get("FLUVIO_ENDPOINT")

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not ENDPOINT, reason="set FLUVIO_ENDPOINT=host:port to run against a Fluvio cluster"),
]


@pytest.fixture
def topics() -> Iterator[FluvioTopics]:
    backend = FluvioTopics(ENDPOINT)
    yield backend
    backend.close()


@pytest.fixture
def topic(topics: FluvioTopics) -> Iterator[str]:
    name = f"system-{uuid.uuid4().hex[:12]}"
    assert topics.create_topic(name) is True
    deadline = time.monotonic() + 30  # a new topic takes a moment to be provisioned
    while not topics.topic_exists(name) and time.monotonic() < deadline:
        time.sleep(0.2)
    yield name
    with contextlib.suppress(TopicNotFoundError):
        topics.delete_topic(name)


def test_create_is_idempotent_and_listed(topics: FluvioTopics, topic: str) -> None:
    assert topics.create_topic(topic) is False
    assert topic in topics.list_topics()
    assert topics.topic_exists(topic)


def test_produce_then_read_back(topics: FluvioTopics, topic: str) -> None:
    with topics.producer(topic) as producer:
        producer.send(None, b"a")
        producer.send(b"k", b"b")
        producer.send_many([(None, b"c")])
    records = topics.read(topic)
    assert [(r.offset, r.key, r.value) for r in records] == [
        (0, None, b"a"), (1, b"k", b"b"), (2, None, b"c"),
    ]
    assert all(abs(r.timestamp - time.time()) < 600 for r in records)
    assert topics.end_offset(topic) == 3
    assert [r.value for r in topics.read(topic, 1, max_records=1)] == [b"b"]


def test_follow_sees_records_produced_later(topics: FluvioTopics, topic: str) -> None:
    def produce_later() -> None:
        with FluvioTopics(ENDPOINT).producer(topic) as producer:
            producer.send(None, b"late")

    writer = threading.Timer(0.5, produce_later)
    writer.start()
    got = [r.value for r in topics.stream(topic, 0, timeout=10)]
    writer.join()
    assert got == [b"late"]


def test_delete_then_missing(topics: FluvioTopics, topic: str) -> None:
    topics.delete_topic(topic)
    deadline = time.monotonic() + 30
    while topics.topic_exists(topic) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not topics.topic_exists(topic)
    with pytest.raises(TopicNotFoundError):
        topics.producer(topic)
