"""The topics port's contract, run on both backends: the embedded log and a real Fluvio cluster.

What only one backend promises (dense offsets and SQLite locking on the embedded log; time bounds
and the client process on Fluvio) is tested in test_embedded.py and test_fluvio_*.py.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
from polling import wait_until

from fluvio_connectors.errors import BackendError, ConfigError, TopicMissingError, TopicNotFoundError
from fluvio_connectors.topics import Producer, Record, Topics, apply_topic_rule

Name = Callable[[str], str]


def values(records: list[Record]) -> list[str]:
    return [r.value.decode() for r in records]


def increasing(records: list[Record]) -> bool:
    return all(a.offset < b.offset for a, b in itertools.pairwise(records))


def produce(topics: Topics, topic: str, batch: list[bytes]) -> None:
    with topics.producer(topic) as producer:
        producer.send_many((None, value) for value in batch)


@pytest.fixture
def ten(backend: Topics, topic_name: Name) -> str:
    """A topic holding v0..v9."""
    topic = topic_name("ten")
    backend.create_topic(topic)
    produce(backend, topic, [f"v{i}".encode() for i in range(10)])
    return topic


# -- topics ------------------------------------------------------------------------------------


def test_create_list_exists_delete(backend: Topics, topic_name: Name) -> None:
    alpha, beta = topic_name("alpha"), topic_name("beta")
    assert backend.create_topic(beta) is True
    assert backend.create_topic(alpha, partitions=2) is True
    assert backend.create_topic(beta) is False  # exists: no error
    listed = backend.list_topics()
    assert {alpha, beta} <= set(listed) and listed == sorted(listed)
    assert backend.topic_exists(alpha) and not backend.topic_exists(topic_name("gamma"))

    backend.delete_topic(alpha)
    assert alpha not in backend.list_topics() and not backend.topic_exists(alpha)
    with pytest.raises(TopicNotFoundError, match=f"topic {alpha} not found"):
        backend.delete_topic(alpha)


def test_a_deleted_topic_loses_its_records_and_a_new_one_starts_empty(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    produce(backend, topic, [b"old-1", b"old-2"])
    backend.delete_topic(topic)
    with pytest.raises(TopicNotFoundError):
        backend.read(topic)
    assert backend.create_topic(topic) is True
    assert backend.read(topic) == []
    assert backend.end_offset(topic) == 0
    produce(backend, topic, [b"new"])
    assert [(r.offset, r.value) for r in backend.read(topic)] == [(0, b"new")]


@pytest.mark.parametrize("name", ["", "Upper", "under_score", "-lead", "dot.ted", "a" * 64, "spa ce"])
def test_invalid_topic_names_are_refused_with_what_is_expected(backend: Topics, name: str) -> None:
    with pytest.raises(ConfigError, match="lowercase letters, digits and '-'"):
        backend.create_topic(name)


@pytest.mark.parametrize("partitions", [0, -1, True, 10_001])
def test_bad_partition_counts_are_refused(backend: Topics, topic_name: Name, partitions: int) -> None:
    with pytest.raises(ConfigError, match="partitions must be"):
        backend.create_topic(topic_name("t1"), partitions=partitions)


def test_records_survive_reopening(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    with backend.producer(topic) as producer:
        producer.send(b"k", b"v")
    backend.close()
    again = _reopen(backend)  # a new object on the same log or cluster
    try:
        assert [(r.key, r.value) for r in again.read(topic)] == [(b"k", b"v")]
    finally:
        again.close()


def _reopen(topics: Topics) -> Topics:
    from fluvio_connectors.topics.embedded import EmbeddedTopics
    from fluvio_connectors.topics.fluvio import FluvioTopics

    if isinstance(topics, EmbeddedTopics):
        return EmbeddedTopics(topics.path)
    assert isinstance(topics, FluvioTopics)
    return FluvioTopics(topics.endpoint)


# -- the seed's create_topic rule ------------------------------------------------------------------


def test_topic_rule_creates_a_missing_topic_and_keeps_an_existing_ones_records(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    assert apply_topic_rule(backend, topic, create_topic=True) is True
    produce(backend, topic, [b"kept"])
    assert apply_topic_rule(backend, topic, create_topic=True) is False
    assert values(backend.read(topic)) == ["kept"]


def test_topic_rule_without_create_topic_needs_an_existing_topic(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    with pytest.raises(TopicMissingError, match=f"topic {topic} does not exist; create it first"):
        apply_topic_rule(backend, topic, create_topic=False)
    assert not backend.topic_exists(topic)
    backend.create_topic(topic)
    assert apply_topic_rule(backend, topic, create_topic=False) is False


# -- producing ----------------------------------------------------------------------------------


def test_producer_for_a_missing_topic(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("nope")
    with pytest.raises(TopicNotFoundError, match=f"topic {topic} not found"):
        backend.producer(topic)


def test_flushed_records_read_back_in_order_with_keys_and_timestamps(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    before = time.time()
    producer = backend.producer(topic)
    assert isinstance(producer, Producer)
    producer.send(None, b"a")
    producer.send(b"key-b", b"b")
    producer.send_many([(None, b"c"), (b"\x00\xff key", bytes(range(256)))])
    producer.flush()
    after = time.time()

    records = backend.read(topic)
    assert [(r.key, r.value) for r in records] == [
        (None, b"a"), (b"key-b", b"b"), (None, b"c"), (b"\x00\xff key", bytes(range(256))),
    ]
    assert records[0].offset == 0 and increasing(records)
    assert all(before - 1 <= r.timestamp <= after + 1 for r in records)  # clocks of one machine
    assert backend.end_offset(topic) == records[-1].offset + 1
    producer.close()


def test_text_values_are_stored_as_utf8_and_other_types_refused(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    with backend.producer(topic) as producer:
        producer.send("clé", "välue")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="record value must be bytes or str, got int"):
            producer.send(None, 42)  # type: ignore[arg-type]
    [record] = backend.read(topic)
    assert (record.key_text(), record.value_text()) == ("clé", "välue")


def test_flush_stores_everything_sent(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    producer = backend.producer(topic, batch_size=500)
    producer.send_many((None, f"x{i}".encode()) for i in range(1_200))
    producer.flush()
    assert values(backend.read(topic)) == [f"x{i}" for i in range(1_200)]
    producer.send(None, b"y")
    producer.close()  # close flushes
    assert values(backend.read(topic, 1_200)) == ["y"]


def test_with_linger_records_are_stored_without_flush(
    backend: Topics, topic_name: Name
) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    producer = backend.producer(topic, linger_ms=50)
    producer.send(None, b"lingered")
    wait_until(lambda: len(backend.read(topic)) == 1, 10, "the first record, stored by the linger")
    producer.send(None, b"second")
    wait_until(lambda: len(backend.read(topic)) == 2, 10, "the second record, stored by the linger")
    producer.close()
    assert values(backend.read(topic)) == ["lingered", "second"]


def test_with_linger_a_full_batch_is_stored_without_flush_too(
    backend: Topics, topic_name: Name
) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    producer = backend.producer(topic, batch_size=2, linger_ms=50)
    producer.send_many([(None, b"a"), (None, b"b")])  # a full batch: on its way at once
    wait_until(lambda: values(backend.read(topic)) == ["a", "b"], 10, "records a and b")
    producer.close()


def test_a_closed_producer_refuses_sends(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    producer = backend.producer(topic)
    producer.close()
    with pytest.raises(BackendError, match=f"producer for topic {topic} is closed"):
        producer.send(None, b"late")


@pytest.mark.parametrize(("batch_size", "linger_ms"), [(0, 0.0), (10, -1.0)])
def test_bad_producer_settings(backend: Topics, topic_name: Name, batch_size: int, linger_ms: float) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    with pytest.raises(ConfigError):
        backend.producer(topic, batch_size=batch_size, linger_ms=linger_ms)


def test_producer_is_thread_safe_and_keeps_each_senders_order(backend: Topics, topic_name: Name) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    producer = backend.producer(topic, batch_size=64, linger_ms=5)
    senders, per_sender = 4, 2_500
    stop_flushing = threading.Event()

    def send(tag: int) -> None:
        for i in range(per_sender):
            producer.send(None, f"{tag}-{i}".encode())

    def flush_often() -> None:  # as the MQTT connector does from another thread than paho's
        while not stop_flushing.is_set():
            producer.flush()
            stop_flushing.wait(0.005)

    threads = [threading.Thread(target=send, args=(tag,)) for tag in range(senders)]
    flusher = threading.Thread(target=flush_often)
    for thread in [*threads, flusher]:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stop_flushing.set()
    flusher.join(timeout=60)
    producer.close()

    records = backend.read(topic)
    assert len(records) == senders * per_sender and increasing(records)
    got = values(records)
    for tag in range(senders):
        assert [v for v in got if v.startswith(f"{tag}-")] == [f"{tag}-{i}" for i in range(per_sender)]


# -- reading ------------------------------------------------------------------------------------


def test_read_from_an_offset_with_a_limit(backend: Topics, ten: str) -> None:
    assert values(backend.read(ten, 7)) == ["v7", "v8", "v9"]
    assert values(backend.read(ten, 2, max_records=3)) == ["v2", "v3", "v4"]
    assert backend.read(ten, 10) == []
    assert backend.read(ten, 50) == []
    assert backend.read(ten, 0, max_records=0) == []
    assert backend.end_offset(ten) == 10


def test_a_read_is_bounded_in_bytes_and_leaves_out_values_too_large(backend: Topics, topic_name: Name) -> None:
    """Issue 22: ``consume -B -n 1`` over records of 25 MB loaded 40 of them (1.1 GB) to print one."""
    topic = topic_name("sized")
    backend.create_topic(topic)
    produce(backend, topic, [b"a" * 300_000, b"b" * 300_000, b"c", b"d" * 300_000])
    first = backend.read(topic, max_bytes=500_000)
    assert [len(r.value) for r in first] == [300_000, 300_000]  # stops once past the bound
    assert [len(r.value) for r in backend.read(topic, max_bytes=1)] == [300_000]  # at least one
    assert [len(r.value) for r in backend.read(topic, max_records=2, max_bytes=10**9)] == [300_000, 300_000]
    light = backend.read(topic, max_value_bytes=10)
    assert [(r.value, r.value_size, r.size) for r in light] == [
        (b"", 300_000, 300_000), (b"", 300_000, 300_000), (b"c", None, 1), (b"", 300_000, 300_000)]
    assert [len(r.value) for r in backend.stream(topic, follow=False)] == [300_000, 300_000, 1, 300_000]


def test_large_records_after_smaller_ones_are_read_back(backend: Topics, topic_name: Name) -> None:
    """A Fluvio fetch that ends before a large batch ended the read there (issue 22); the embedded
    log keeps large values apart (``blobs``)."""
    topic = topic_name("large")
    backend.create_topic(topic)
    sizes = [10, 4 * 1024 * 1024, 14 * 1024 * 1024, 10]
    produce(backend, topic, [bytes([i]) * size for i, size in enumerate(sizes)])
    assert [(r.value_size, len(r.value)) for r in backend.read(topic, max_value_bytes=100)] == [
        (None, 10), (sizes[1], 0), (sizes[2], 0), (None, 10)]
    assert [r.value == bytes([i]) * size for i, (r, size) in enumerate(zip(backend.stream(topic, follow=False), sizes,
                                                                             strict=True))] == [True] * 4


def test_a_topic_created_again_has_another_identity(backend: Topics, topic_name: Name) -> None:
    topic, other = topic_name("who"), topic_name("whom")
    backend.create_topic(topic)
    assert backend.topic_identity(topic) is None or backend.topic_identity(topic) == backend.topic_identity(topic)
    produce(backend, topic, [b"x0", b"x1"])
    first = backend.topic_identity(topic)
    assert first is not None and first.first == 0
    produce(backend, topic, [b"x2"])
    assert backend.topic_identity(topic) == first  # more records: the same topic
    assert not first.replaced_by(backend.topic_identity(topic))
    # Another topic written later (what a topic created again under the name is)
    backend.create_topic(other)
    produce(backend, other, [b"y0"])
    assert first.replaced_by(backend.topic_identity(other))


def test_reading_bad_offsets_partitions_and_topics(backend: Topics, ten: str, topic_name: Name) -> None:
    with pytest.raises(ConfigError, match="offset must be a non-negative integer, got -1"):
        backend.read(ten, -1)
    with pytest.raises(ConfigError, match=f"topic {ten} has .*partition.* 1"):
        backend.read(ten, partition=1)
    missing = topic_name("nope")
    with pytest.raises(TopicNotFoundError):
        backend.read(missing)
    with pytest.raises(TopicNotFoundError):
        backend.end_offset(missing)
    with pytest.raises(TopicNotFoundError):
        backend.stream(missing)  # at the call, not at the first record


def test_stream_without_follow_stops_at_the_end(backend: Topics, ten: str) -> None:
    assert values(list(backend.stream(ten, 5, follow=False))) == ["v5", "v6", "v7", "v8", "v9"]


def test_stream_follows_new_records_until_idle(backend: Topics, ten: str) -> None:
    writer = threading.Timer(0.2, lambda: produce(backend, ten, [b"late"]))
    writer.start()
    got = values(list(backend.stream(ten, 8, poll_interval=0.02, timeout=5.0)))
    writer.join()
    assert got == ["v8", "v9", "late"]


def test_stream_of_a_topic_deleted_while_following(backend: Topics, ten: str) -> None:
    stream = backend.stream(ten, 10, poll_interval=0.02, timeout=30)
    deleter = threading.Timer(0.1, lambda: backend.delete_topic(ten))
    deleter.start()
    with pytest.raises(TopicNotFoundError):
        next(stream)
    deleter.join()


@pytest.mark.timeout(180)
def test_two_producer_processes_store_every_record_once_in_each_ones_order(
    backend: Topics, topic_name: Name, backend_address: str, start_producers: Callable[..., list]
) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    procs = start_producers(topic, ["a", "b"], count=10_000, batch=100, where=backend_address)
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "done"

    records = backend.read(topic)
    assert len(records) == 20_000 and increasing(records)
    got = values(records)
    assert len(set(got)) == 20_000  # nothing written twice
    for tag in ("a", "b"):  # and each process's records in the order it sent them
        assert [v for v in got if v.startswith(f"{tag}-")] == [f"{tag}-{i}" for i in range(10_000)]
    assert backend.end_offset(topic) == records[-1].offset + 1


@pytest.mark.timeout(180)
def test_a_reader_follows_while_another_process_writes(
    backend: Topics, topic_name: Name, backend_address: str, start_producers: Callable[..., list]
) -> None:
    topic = topic_name("t1")
    backend.create_topic(topic)
    [proc] = start_producers(topic, ["w"], count=5_000, batch=50, where=backend_address)
    seen: list[Record] = []
    for record in backend.stream(topic, 0, poll_interval=0.01, timeout=60):
        seen.append(record)
        if len(seen) == 5_000:
            break
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert increasing(seen)
    assert values(seen) == [f"w-{i}" for i in range(5_000)]
