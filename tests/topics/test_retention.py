"""Topic retention (``topics/retention.py``): Fluvio's options, kept with the topic, applied by the
embedded log in the background of its writers without holding them up; ``delete_topic`` removing
the records for real and ``vacuum`` shrinking the file; and on a real Fluvio cluster, the options in
the topic's spec as Fluvio's own CLI shows it."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from first_log import FIRST_VERSION_TABLES
from polling import wait_until

from fluvio_connectors.errors import ConfigError
from fluvio_connectors.topics import Retention, TopicInfo
from fluvio_connectors.topics.embedded import EmbeddedTopics
from fluvio_connectors.topics.retention import format_size, parse_retention_time, parse_size, purge


@pytest.mark.parametrize(("text", "seconds"), [("1h", 3600), ("2d 10s", 172_810), ("7 days", 604_800), ("90", 90),
                                               ("1 week", 604_800), ("1h30m", 5400), (45, 45)])
def test_retention_time_as_fluvio_writes_it(text: Any, seconds: int) -> None:
    assert parse_retention_time(text) == seconds


@pytest.mark.parametrize(("text", "size"), [("2048", 2048), ("2 Ki", 2048), ("10 MiB", 10 * 1024**2), ("1 GB", 10**9),
                                            ("1.5kb", 1500), (4096, 4096)])
def test_sizes_as_fluvio_writes_them(text: Any, size: int) -> None:
    assert parse_size(text, "segment-size") == size


@pytest.mark.parametrize(("call", "message"), [
    (lambda: parse_retention_time("1 fortnight"), "retention-time: unknown unit 'fortnight'; expected a duration"),
    (lambda: parse_retention_time("soon"), "retention-time: expected a duration such as 1h, 2d 10s or 7 days"),
    (lambda: parse_retention_time("0s"), "retention-time: expected from 1 second to 100 years, got 0 s"),
    (lambda: parse_size("10 parsecs", "max-partition-size"), "max-partition-size: expected bytes, e.g. 2048, 2 Ki"),
    (lambda: parse_size("0", "segment-size"), "segment-size: expected at least 1 byte, got 0"),
])
def test_a_bad_value_names_the_option_and_what_is_expected(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_the_retention_is_kept_with_the_topic(topics: EmbeddedTopics) -> None:
    retention = Retention.parse("1h", "10 MiB", "1 MiB")
    assert topics.create_topic("kept", 2, retention)
    assert not topics.create_topic("kept", 2, Retention.parse("2h"))  # exists: unchanged
    topics.create_topic("plain")
    with topics.producer("kept") as producer:
        producer.send_many([(b"k", b"12345"), (None, b"1234567890")])
    assert topics.topic_infos() == [
        TopicInfo("kept", 2, 2, 16, Retention(3600, 10 * 1024**2, 1024**2)),
        TopicInfo("plain", 1, 0, 0, Retention()),
    ]
    assert Retention(3600, 10 * 1024**2, 1024**2).describe() == "1h, max 10 MiB a partition, segments of 1 MiB"
    assert Retention(7 * 86_400).describe() == "7 days" and Retention().describe() == "-"


def _send(topics: EmbeddedTopics, topic: str, values: list[bytes]) -> None:
    with topics.producer(topic) as producer:
        producer.send_many([(None, value) for value in values])


def test_records_older_than_the_retention_time_go(topics: EmbeddedTopics, log_path: Path) -> None:
    topics.create_topic("aging", retention=Retention(time=60))
    _send(topics, "aging", [b"old-1", b"old-2"])
    assert purge(topics).records == 0  # not old enough yet
    with sqlite3.connect(log_path) as conn:  # written 61 s ago
        conn.execute("UPDATE records SET timestamp = timestamp - 61")
    _send(topics, "aging", [b"new"])
    assert purge(topics).records == 2
    assert [(r.offset, r.value) for r in topics.read("aging")] == [(2, b"new")]
    assert topics.topic_infos() == [TopicInfo("aging", 1, 1, 3, Retention(time=60))]
    _send(topics, "aging", [b"next"])
    assert [r.offset for r in topics.read("aging")] == [2, 3]  # offsets go on


def test_a_partition_keeps_at_most_its_maximum_size_newest_first(topics: EmbeddedTopics) -> None:
    topics.create_topic("bounded", retention=Retention(max_partition_size=1000))
    _send(topics, "bounded", [f"{i:03d}".encode() * 33 for i in range(25)])  # 99 bytes each
    done = purge(topics)
    kept = topics.read("bounded")
    assert [r.offset for r in kept] == list(range(15, 25))  # 10 x 99 = 990 bytes fit, 11 would not
    assert done.records == 15 and done.bytes == 15 * 99
    assert topics.topic_infos()[0].size_bytes == 990


def test_a_retention_pass_does_not_hold_writers_up(topics: EmbeddedTopics, log_path: Path) -> None:
    """A backlog of 30,000 expired records goes in transactions of 1,000: a writer appending one
    record at a time meanwhile gets its records in between, and none of them is lost."""
    topics.create_topic("busy", retention=Retention(time=3600))
    _send(topics, "busy", [b"x" * 50] * 30_000)
    with sqlite3.connect(log_path) as conn:  # written two hours ago
        conn.execute("UPDATE records SET timestamp = timestamp - 7200")
    started, finished = threading.Event(), threading.Event()
    during: list[int] = []

    def writer() -> None:
        with topics.producer("busy") as producer:
            started.set()
            while not finished.is_set() and len(during) < 100_000:
                producer.send(None, f"live-{len(during)}".encode())
                producer.flush()
                during.append(len(during))

    thread = threading.Thread(target=writer)
    thread.start()
    assert started.wait(30)
    seen = len(during)
    purged = purge(topics, chunk=1_000)
    at_end = len(during)
    finished.set()
    thread.join(60)
    assert purged.records == 30_000
    assert at_end > seen, "the writer made no progress while the pass ran"
    assert [r.value for r in topics.read("busy")] == [f"live-{i}".encode() for i in range(len(during))]


def test_writers_apply_retention_in_the_background(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUVIO_EMBEDDED_RETENTION_INTERVAL", "0.2")
    topics = EmbeddedTopics(log_path)
    try:
        topics.create_topic("ticking", retention=Retention(time=1))
        _send(topics, "ticking", [b"first"])
        with topics.producer("ticking") as producer:

            def first_gone() -> bool:
                producer.send(None, b"tick")
                producer.flush()
                return topics.read("ticking", max_records=1)[0].value != b"first"

            wait_until(first_gone, 30, "the first record removed by retention", interval=0.1)
    finally:
        topics.close()


def _raw_count(log_path: Path, sql: str) -> int:
    with sqlite3.connect(log_path) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_delete_removes_the_records_and_vacuum_shrinks_the_file(topics: EmbeddedTopics, log_path: Path) -> None:
    topics.create_topic("big")
    topics.create_topic("small")
    _send(topics, "big", [uuid.uuid4().bytes * 64 for _ in range(4_000)])  # 4 MB
    _send(topics, "small", [b"keep me"])
    assert topics.delete_topic("big") == 4_000
    assert _raw_count(log_path, "SELECT count(*) FROM records") == 1  # really gone, not hidden
    before, after = topics.vacuum()
    assert before > 4_000_000 and after < 500_000, (before, after)
    assert [r.value for r in topics.read("small")] == [b"keep me"]


def test_a_delete_cut_short_is_finished_by_the_next_pass(topics: EmbeddedTopics, log_path: Path) -> None:
    topics.create_topic("gone")
    _send(topics, "gone", [b"r"] * 2_500)
    (topic_id,) = [row[0] for row in sqlite3.connect(log_path).execute("SELECT id FROM topics WHERE name = 'gone'")]
    with sqlite3.connect(log_path) as conn:  # what a delete killed after its first transaction leaves
        conn.execute("DELETE FROM partitions WHERE topic_id = ?", (topic_id,))
        conn.execute("DELETE FROM topics WHERE id = ?", (topic_id,))
        conn.execute("INSERT INTO deleted_topics (topic_id) VALUES (?)", (topic_id,))
    assert not topics.topic_exists("gone")
    assert purge(topics).orphans == 2_500
    assert _raw_count(log_path, "SELECT count(*) FROM records") == 0
    assert _raw_count(log_path, "SELECT count(*) FROM deleted_topics") == 0


def test_a_log_of_an_earlier_version_gets_the_new_columns(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    with sqlite3.connect(log_path) as conn:  # the first version's schema, with a topic and records
        conn.executescript(FIRST_VERSION_TABLES + """
            INSERT INTO topics VALUES (1, 'old', 1, 0);
            INSERT INTO partitions VALUES (1, 0, 2);
            INSERT INTO records VALUES (1, 0, 0, X'6B', X'0102', 0), (1, 0, 1, NULL, X'010203', 0);
        """)
    topics = EmbeddedTopics(log_path)
    try:
        assert topics.topic_infos() == [TopicInfo("old", 1, 2, 6, Retention())]
        _send(topics, "old", [b"1234"])
        assert topics.topic_infos()[0].size_bytes == 10
    finally:
        topics.close()


def test_format_size() -> None:
    assert [format_size(n) for n in (512, 1536, 10 * 1024**2, 3 * 1024**3)] == ["512 B", "1.5 KiB", "10 MiB", "3 GiB"]


@pytest.mark.fluvio
def test_on_a_fluvio_cluster_the_retention_goes_into_the_topic_spec(fluvio_cluster: Any) -> None:
    """Read back with Fluvio's own CLI: the Python client cannot read a topic's spec."""
    from fluvio_connectors.topics.fluvio import FluvioTopics

    name = f"retained-{uuid.uuid4().hex[:8]}"
    topics = FluvioTopics(fluvio_cluster.endpoint)
    try:
        assert topics.create_topic(name, 1, Retention.parse("2h", "4 MiB", "1 MiB"))
        described = fluvio_cluster.cli("topic", "describe", name, "-O", "json")
        assert described.returncode == 0, described.stderr
        (topic,) = json.loads(described.stdout)
        assert topic["spec"]["cleanupPolicy"] == {"segment": {"timeInSeconds": 7200}}
        assert topic["spec"]["storage"] == {"segmentSize": 1024**2, "maxPartitionSize": 4 * 1024**2}
        assert [info.name for info in topics.topic_infos() if info.name == name] == [name]
    finally:
        topics.delete_topic(name)
        topics.close()
