"""Named consumers on the embedded log: positions that only a commit moves and that outlive the process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fluvio_connectors.errors import ConfigError, ConsumerNotFoundError, NotSupportedError, TopicNotFoundError
from fluvio_connectors.topics import ConsumerPosition, Topics
from fluvio_connectors.topics.consumers import resume_position, validate_consumer_name
from fluvio_connectors.topics.embedded import EmbeddedTopics
from fluvio_connectors.topics.fluvio import FluvioTopics


def fill(topics: EmbeddedTopics, topic: str, count: int, prefix: str = "r") -> None:
    topics.create_topic(topic)
    with topics.producer(topic) as producer:
        producer.send_many([(None, f"{prefix}{i}".encode()) for i in range(count)])


def test_a_new_consumer_has_no_position_and_a_commit_sets_it(topics: EmbeddedTopics) -> None:
    fill(topics, "t", 5)
    assert isinstance(topics, Topics)
    assert topics.consumer_position("reader", "t") is None
    topics.commit("reader", "t", 3)
    assert topics.consumer_position("reader", "t") == 3
    # reading never moves it
    assert [r.offset for r in topics.read("t", 3)] == [3, 4]
    assert topics.consumer_position("reader", "t") == 3
    topics.commit("reader", "t", 5)  # the end: everything handled
    assert topics.consumer_position("reader", "t") == 5
    topics.commit("reader", "t", 1)  # a commit may move it back (replay)
    assert topics.consumer_position("reader", "t") == 1


def test_the_position_survives_the_process_that_committed_it(log_path: Path, topics: EmbeddedTopics) -> None:
    fill(topics, "t", 10)
    program = (
        "import sys\n"
        "from fluvio_connectors.topics.embedded import EmbeddedTopics\n"
        "t = EmbeddedTopics(sys.argv[1])\n"
        "records = t.read('t', t.consumer_position('worker', 't') or 0, max_records=4)\n"
        "t.commit('worker', 't', records[-1].offset + 1)\n"
        "print(','.join(r.value.decode() for r in records))\n"
    )
    seen = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", program, str(log_path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        seen.append(done.stdout.strip())
    assert seen == ["r0,r1,r2,r3", "r4,r5,r6,r7"]
    assert topics.consumer_position("worker", "t") == 8


def test_resume_position_commits_the_start_of_a_new_consumer(topics: EmbeddedTopics) -> None:
    fill(topics, "t", 4)
    assert resume_position(topics, "late", "t", start="latest") == 4
    assert resume_position(topics, "early", "t", start="beginning") == 0
    with topics.producer("t") as producer:
        producer.send(None, b"r4")
    # Once started, a consumer keeps its position whatever start a later reader asks for.
    assert resume_position(topics, "late", "t", start="beginning") == 4
    assert resume_position(topics, "early", "t", start="latest") == 0
    with pytest.raises(ConfigError, match="start must be one of latest, beginning, got 'middle'"):
        resume_position(topics, "x", "t", start="middle")


def test_consumers_and_partitions_are_independent(topics: EmbeddedTopics) -> None:
    topics.create_topic("multi", partitions=2)
    topics.create_topic("other")
    for partition in (0, 1):
        topics._append("multi", topics._topic("multi")[0], partition, [(None, b"x")] * (partition + 2))
    topics.commit("a", "multi", 2, partition=0)
    topics.commit("a", "multi", 1, partition=1)
    topics.commit("b", "multi", 1, partition=0)
    topics.commit("a", "other", 0)
    assert topics.consumer_position("a", "multi", 0) == 2
    assert topics.consumer_position("a", "multi", 1) == 1
    assert topics.consumer_position("b", "multi", 1) is None
    assert [(p.consumer, p.topic, p.partition, p.offset) for p in topics.list_consumers()] == [
        ("a", "multi", 0, 2), ("a", "multi", 1, 1), ("a", "other", 0, 0), ("b", "multi", 0, 1),
    ]
    assert [p.consumer for p in topics.list_consumers("other")] == ["a"]
    assert all(isinstance(p, ConsumerPosition) and p.updated_at > 0 for p in topics.list_consumers())


def test_delete_consumer_on_one_topic_or_all(topics: EmbeddedTopics) -> None:
    fill(topics, "t1", 1)
    fill(topics, "t2", 1)
    for topic in ("t1", "t2"):
        topics.commit("gone", topic, 1)
        topics.commit("kept", topic, 1)
    assert topics.delete_consumer("gone", "t1") == 1
    assert topics.consumer_position("gone", "t1") is None and topics.consumer_position("gone", "t2") == 1
    assert topics.delete_consumer("gone") == 1
    assert [p.consumer for p in topics.list_consumers()] == ["kept", "kept"]
    with pytest.raises(ConsumerNotFoundError, match=r"^consumer gone has no committed position$"):
        topics.delete_consumer("gone")
    with pytest.raises(ConsumerNotFoundError, match=r"^consumer kept has no committed position on topic t3$"):
        topics.delete_consumer("kept", "t3")


def test_deleting_a_topic_forgets_its_positions(topics: EmbeddedTopics) -> None:
    fill(topics, "t", 3)
    topics.commit("reader", "t", 3)
    topics.delete_topic("t")
    assert topics.list_consumers() == []
    fill(topics, "t", 1)  # a new topic of the same name is a new log: no position carried over
    assert topics.consumer_position("reader", "t") is None


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda t: t.commit("c", "t", 4), ConfigError,
         "cannot commit position 4 for consumer c: topic t partition 0 ends at offset 3"),
        (lambda t: t.commit("c", "t", -1), ConfigError, "offset must be a non-negative integer, got -1"),
        (lambda t: t.commit("c", "t", 1, partition=1), ConfigError, "topic t has partitions 0..0, not 1"),
        (lambda t: t.commit("c", "nope", 0), TopicNotFoundError, "topic nope not found"),
        (lambda t: t.consumer_position("c", "nope"), TopicNotFoundError, "topic nope not found"),
        (lambda t: t.commit("-c", "t", 0), ConfigError, "'-c' is not a valid consumer name"),
        (lambda t: t.consumer_position("a b", "t"), ConfigError, "'a b' is not a valid consumer name"),
    ],
)
def test_bad_commits_say_what_is_wrong_and_change_nothing(topics: EmbeddedTopics, call, error, message) -> None:
    fill(topics, "t", 3)
    topics.commit("c", "t", 2)
    with pytest.raises(error) as raised:
        call(topics)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert topics.consumer_position("c", "t") == 2


def test_consumer_names(topics: EmbeddedTopics) -> None:
    for good in ("a", "airflow-watcher-t", "Team.Reader_2", "x" * 63):
        assert validate_consumer_name(good) == good
    for bad in ("", "x" * 64, "-lead", "with space", "slash/no", None, 3):
        with pytest.raises(ConfigError, match="is not a valid consumer name"):
            validate_consumer_name(bad)


def test_a_log_written_before_named_consumers_existed_gains_the_table(log_path: Path) -> None:
    old = EmbeddedTopics(log_path)
    fill(old, "t", 2)
    old.close()
    with sqlite3.connect(log_path) as conn:
        conn.execute("DROP TABLE consumers")
    upgraded = EmbeddedTopics(log_path)
    try:
        upgraded.commit("reader", "t", 2)
        assert upgraded.consumer_position("reader", "t") == 2
        assert [r.value for r in upgraded.read("t")] == [b"r0", b"r1"]
    finally:
        upgraded.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.consumer_position("c", "t"),
        lambda t: t.commit("c", "t", 0),
        lambda t: t.list_consumers(),
        lambda t: t.delete_consumer("c"),
    ],
)
def test_the_fluvio_backend_says_named_consumers_are_not_there_yet(call) -> None:
    backend = FluvioTopics("127.0.0.1:9")  # never contacted: the methods refuse before any I/O
    with pytest.raises(NotSupportedError) as raised:
        call(backend)
    assert str(raised.value) == "named consumers are not supported by this backend yet (FluvioTopics('127.0.0.1:9'))"
