"""What only the embedded log promises: dense offsets, SQLite locking, many writer processes,
its file. The port's contract (both backends) is in test_contract.py."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from first_log import FIRST_VERSION_TABLES
from polling import wait_until

from fluvio_connectors.errors import BackendError, ConfigError, RecordTooLargeError, TopicNotFoundError
from fluvio_connectors.settings import Settings
from fluvio_connectors.topics import Producer, Record, Topics, open_topics
from fluvio_connectors.topics import embedded as embedded_module
from fluvio_connectors.topics.embedded import LARGE_VALUE, EmbeddedTopics


def values(records: list[Record]) -> list[str]:
    return [r.value.decode() for r in records]


# -- topics ------------------------------------------------------------------------------------


def test_open_topics_picks_the_embedded_log_under_the_state_directory(fluvio_home: Path) -> None:
    topics = open_topics()
    try:
        assert isinstance(topics, EmbeddedTopics)
        assert isinstance(topics, Topics)
        assert topics.create_topic("t1") is True
        assert (fluvio_home / "topics.db").is_file()
    finally:
        topics.close()


def test_opening_creates_nothing_until_used(log_path: Path) -> None:
    topics = EmbeddedTopics(log_path)
    assert not log_path.parent.exists()
    assert topics.list_topics() == []
    assert log_path.is_file()
    topics.close()


def test_create_list_exists_delete(topics: EmbeddedTopics) -> None:
    assert topics.create_topic("beta") is True
    assert topics.create_topic("alpha", partitions=2) is True
    assert topics.create_topic("beta") is False  # exists: no error
    assert topics.list_topics() == ["alpha", "beta"]
    assert topics.topic_exists("alpha") and not topics.topic_exists("gamma")
    assert topics.partitions("alpha") == 2

    topics.delete_topic("alpha")
    assert topics.list_topics() == ["beta"]
    with pytest.raises(TopicNotFoundError, match="topic alpha not found"):
        topics.delete_topic("alpha")


def test_longest_valid_topic_name(topics: EmbeddedTopics) -> None:
    assert topics.create_topic("a" * 63) is True


# -- producing ----------------------------------------------------------------------------------


def test_offsets_are_dense_and_an_empty_key_is_not_a_missing_one(topics: EmbeddedTopics) -> None:
    topics.create_topic("t1")
    before = time.time()
    producer = topics.producer("t1")
    assert isinstance(producer, Producer)
    producer.send(None, b"a")
    producer.send(b"key-b", b"b")
    producer.send_many([(None, b"c"), (b"", b"d")])
    producer.flush()
    after = time.time()

    records = topics.read("t1")
    assert [(r.offset, r.key, r.value) for r in records] == [
        (0, None, b"a"), (1, b"key-b", b"b"), (2, None, b"c"), (3, b"", b"d"),
    ]
    assert all(before <= r.timestamp <= after for r in records)
    assert topics.end_offset("t1") == 4
    producer.close()


def test_without_linger_records_wait_for_flush_or_a_full_batch(topics: EmbeddedTopics) -> None:
    topics.create_topic("t1")
    producer = topics.producer("t1", batch_size=500)
    producer.send_many((None, b"x") for _ in range(1_200))
    assert topics.end_offset("t1") == 1_000  # two full batches stored, 200 still queued
    producer.flush()
    assert topics.end_offset("t1") == 1_200
    producer.send(None, b"y")
    assert topics.end_offset("t1") == 1_200
    producer.close()  # close flushes
    assert topics.end_offset("t1") == 1_201


def test_a_batch_holds_at_most_batch_bytes(topics: EmbeddedTopics) -> None:
    """``producer.batch-size``: a batch is stored once it holds that many bytes of keys and values,
    without waiting for a flush; three records of 300 B fit in 1000 B, a fourth would not."""
    topics.create_topic("t1")
    producer = topics.producer("t1", batch_size=500, batch_bytes=1000)
    producer.send_many([(None, b"%0300d" % i) for i in range(10)])
    assert len(topics.read("t1")) == 9  # three batches of three; the tenth waits for more
    producer.send(b"k" * 200, b"v" * 500)  # 300 + 700 B: a whole batch again
    assert len(topics.read("t1")) == 11
    producer.send(None, b"x" * 5000)  # larger than a batch: a batch of its own
    assert len(topics.read("t1")) == 12
    producer.close()


def test_the_embedded_log_refuses_compression_in_one_line(topics: EmbeddedTopics) -> None:
    topics.create_topic("t1")
    with pytest.raises(ConfigError) as error:
        topics.producer("t1", compression="gzip")
    assert str(error.value) == (
        "producer.compression gzip: the embedded log stores records uncompressed; compression applies to a "
        "Fluvio cluster (FLUVIO_ENDPOINT, or the fluvio connection's host): remove it, or use one"
    )


def test_batches_of_every_size_are_stored_whole_and_in_order(topics: EmbeddedTopics) -> None:
    # A batch is inserted in statements of a few fixed sizes (128 rows, then powers of two):
    # whatever the batch size, each record lands once, at the next offset, with its own key.
    topics.create_topic("t1")
    producer = topics.producer("t1", batch_size=1_000)
    sent: list[tuple[bytes | None, bytes]] = []
    for size in [*range(1, 130), 255, 256, 257, 999, 1_000]:
        batch = [(None if i % 3 else f"k{len(sent) + i}".encode(), f"v{len(sent) + i}".encode())
                 for i in range(size)]
        producer.send_many(batch)
        producer.flush()
        sent += batch
        assert topics.end_offset("t1") == len(sent)
    records = topics.read("t1", 0, max_records=len(sent))
    assert [(r.offset, r.key, r.value) for r in records] == [(i, k, v) for i, (k, v) in enumerate(sent)]
    producer.close()


def test_producer_is_thread_safe_and_keeps_each_senders_order(topics: EmbeddedTopics) -> None:
    topics.create_topic("t1")
    producer = topics.producer("t1", batch_size=64, linger_ms=5)
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

    records = topics.read("t1")
    assert [r.offset for r in records] == list(range(senders * per_sender))
    for tag in range(senders):
        mine = [v for v in values(records) if v.startswith(f"{tag}-")]
        assert mine == [f"{tag}-{i}" for i in range(per_sender)]


def test_a_producer_of_a_deleted_topic_does_not_write_into_its_successor(topics: EmbeddedTopics) -> None:
    topics.create_topic("t1")
    producer = topics.producer("t1")
    topics.delete_topic("t1")
    topics.create_topic("t1")
    producer.send(None, b"orphan")
    with pytest.raises(TopicNotFoundError, match="topic t1 not found"):
        producer.flush()
    assert topics.read("t1") == []


def test_a_flush_blocked_by_a_lock_fails_clearly_and_a_retry_stores_each_record_once(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_module, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(embedded_module, "RETRY_DEADLINE_S", 0.3)
    topics = EmbeddedTopics(log_path)
    topics.create_topic("t1")
    producer = topics.producer("t1")
    producer.send_many([(None, b"one"), (None, b"two")])

    other = sqlite3.connect(log_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the log
    with pytest.raises(BackendError, match="database is locked"):
        producer.flush()
    other.execute("ROLLBACK")
    other.close()

    producer.flush()
    assert values(topics.read("t1")) == ["one", "two"]
    producer.close()
    topics.close()


def test_a_briefly_held_lock_is_waited_out(topics: EmbeddedTopics, log_path: Path) -> None:
    topics.create_topic("t1")
    other = sqlite3.connect(log_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
    release.start()
    try:
        with topics.producer("t1") as producer:
            producer.send(None, b"patient")
    finally:
        release.join()
        other.close()
    assert values(topics.read("t1")) == ["patient"]


# -- reading ------------------------------------------------------------------------------------


def test_partitions_have_their_own_offsets(topics: EmbeddedTopics) -> None:
    topics.create_topic("t1", partitions=2)
    assert topics.end_offset("t1", partition=1) == 0
    with topics.producer("t1") as producer:  # the producer writes partition 0
        producer.send(None, b"p0")
    assert topics.end_offset("t1", 0) == 1 and topics.end_offset("t1", 1) == 0
    assert topics.read("t1", partition=1) == []


# -- several processes --------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_two_producer_processes_of_10000_records_leave_20000_dense_offsets(
    topics: EmbeddedTopics, start_producers: Callable[..., list]
) -> None:
    topics.create_topic("t1")
    procs = start_producers("t1", ["a", "b"], count=10_000, batch=100)
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        assert out.strip() == "done"

    records = topics.read("t1")
    assert len(records) == 20_000
    assert [r.offset for r in records] == list(range(20_000))
    got = values(records)
    assert len(set(got)) == 20_000  # nothing written twice
    for tag in ("a", "b"):  # and each process's records in the order it sent them
        assert [v for v in got if v.startswith(f"{tag}-")] == [f"{tag}-{i}" for i in range(10_000)]
    assert topics.end_offset("t1") == 20_000


def test_open_topics_in_a_child_after_the_parent_used_the_log(topics: EmbeddedTopics, log_path: Path) -> None:
    """A connection is never shared across fork(): the child opens its own."""
    import multiprocessing

    topics.create_topic("t1")
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_child_produces, args=(topics,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert values(topics.read("t1")) == ["from-child"]


def _child_produces(topics: EmbeddedTopics) -> None:
    with topics.producer("t1") as producer:
        producer.send(None, b"from-child")


_OTHER_PROCESS = """
import sys
from fluvio_connectors.topics.embedded import LARGE_VALUE, EmbeddedTopics
topics = EmbeddedTopics(sys.argv[1])
if sys.argv[2] == "write":
    with topics.producer("t1") as producer:
        producer.send(None, b"from-other-process")
else:
    print(",".join(r.value.decode() for r in topics.read("t1")))
topics.close()
"""


def test_a_new_connection_keeps_the_locks_of_the_processs_other_connections(
    topics: EmbeddedTopics, log_path: Path
) -> None:
    """SQLite's locks are POSIX locks, which a process loses on a file when it closes *any*
    descriptor of it. Opening a connection must never do that to the connections already open:
    another process would take itself for the last user, checkpoint and delete the WAL under them,
    and what they write next would be invisible to every other process (and reads inconsistent)."""
    import subprocess
    import sys

    def other(action: str) -> str:
        done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(log_path), action],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    topics.create_topic("t1")
    with topics.producer("t1") as producer:
        producer.send(None, b"first")
    opened = threading.Thread(target=topics.list_topics)  # a second connection, from another thread
    opened.start()
    opened.join(timeout=30)
    other("write")  # opens, writes and closes the last connection of its process
    with topics.producer("t1") as producer:  # the first connection writes on
        producer.send(None, b"after")
    assert other("read") == "first,from-other-process,after"
    assert values(topics.read("t1")) == ["first", "from-other-process", "after"]


def test_settings_choose_the_log_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "elsewhere")
    topics = open_topics(settings)
    assert isinstance(topics, EmbeddedTopics)
    assert topics.path == tmp_path / "elsewhere" / "topics.db"
    topics.close()


def test_a_file_that_is_not_a_topic_log(tmp_path: Path) -> None:
    path = tmp_path / "topics.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(BackendError, match=f"topic log {path}: file is not a database"):
        EmbeddedTopics(path).list_topics()


def test_a_directory_in_the_way(tmp_path: Path) -> None:
    path = tmp_path / "topics.db"
    path.mkdir()
    with pytest.raises(ConfigError, match=r"cannot open topics.db \(Is a directory\)"):
        EmbeddedTopics(path).list_topics()


def test_a_lingering_producer_retries_a_failed_write_by_itself(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_module, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(embedded_module, "RETRY_DEADLINE_S", 0.2)
    topics = EmbeddedTopics(log_path)
    topics.create_topic("t1")
    producer = topics.producer("t1", linger_ms=20)
    other = sqlite3.connect(log_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # longer than the producer's retry deadline
    release = threading.Timer(0.8, lambda: other.execute("ROLLBACK"))
    release.start()
    try:
        producer.send(None, b"eventually")
        wait_until(lambda: topics.end_offset("t1") == 1, 15, "the record stored")
    finally:
        release.join()
        other.close()
    producer.close()
    assert values(topics.read("t1")) == ["eventually"]
    topics.close()


# -- large values (issue 22: a 16 MiB MQTT message's record bound as a parameter cost 3 copies) --


def test_large_values_round_trip_through_the_blobs_table(tmp_path: Path) -> None:
    values = [b"small", os.urandom(LARGE_VALUE + 1), b"between", os.urandom(3 * LARGE_VALUE + 7), b"last"]
    with EmbeddedTopics(tmp_path / "topics.db") as topics:
        topics.create_topic("big")
        with topics.producer("big") as producer:
            producer.send_many([(b"k", value) for value in values])
        assert [r.value for r in topics.read("big")] == values
        assert [r.offset for r in topics.read("big")] == [0, 1, 2, 3, 4]
        assert [r.value for r in topics.stream("big", 1, follow=False)] == values[1:]
        assert [(r.value, r.value_size) for r in topics.read("big", max_value_bytes=LARGE_VALUE)] == [
            (b"small", None), (b"", LARGE_VALUE + 1), (b"between", None), (b"", 3 * LARGE_VALUE + 7), (b"last", None)]
        topics.delete_topic("big")
    with sqlite3.connect(tmp_path / "topics.db") as conn:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (0,)  # deleted with their topic


def test_a_log_made_before_the_blobs_table_is_read_and_written(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "topics.db") as conn:
        conn.executescript(FIRST_VERSION_TABLES + """
            INSERT INTO topics VALUES (1, 'old', 1, 0);
            INSERT INTO partitions VALUES (1, 0, 1);
            INSERT INTO records VALUES (1, 0, 0, NULL, X'6f6c64', 0);
            PRAGMA journal_mode = WAL;
        """)
    big = os.urandom(LARGE_VALUE * 2)
    with EmbeddedTopics(tmp_path / "topics.db") as topics:
        with topics.producer("old") as producer:
            producer.send(None, big)
        assert [r.value for r in topics.read("old")] == [b"old", big]


def test_a_record_larger_than_sqlite_stores_is_refused_before_it_is_queued(tmp_path: Path) -> None:
    with EmbeddedTopics(tmp_path / "topics.db") as topics:
        topics.create_topic("t")
        producer = topics.producer("t")
        assert producer.max_record_bytes == 1_000_000_000 - 1024  # SQLite's SQLITE_LIMIT_LENGTH, as compiled
        producer._max_record_bytes = 100  # what a smaller limit would be
        with pytest.raises(RecordTooLargeError, match="a record of 101 bytes is larger than topic t can store"):
            producer.send_many([(None, b"ok"), (None, b"x" * 101)])
        producer.send(None, b"fits")
        producer.close()  # nothing of the refused batch is left to fail the flush
        assert [r.value for r in topics.read("t")] == [b"fits"]
