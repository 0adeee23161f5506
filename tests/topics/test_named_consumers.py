"""Named consumers on both backends: positions that only a commit moves and that outlive the process.

Run on the embedded log and on a real Fluvio cluster (``topics_backend``). Positions are taken from
records read (``record.offset + 1``) or from the backend (``end_offset``), never computed, since a
Fluvio partition's offsets need not be consecutive. What only the embedded log does (its table, its
upgrade) is at the end; what the cluster stores is in test_fluvio_offsets.py.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fluvio_connectors.errors import ConfigError, ConsumerNotFoundError, TopicNotFoundError
from fluvio_connectors.topics import ConsumerPosition, Record, Topics
from fluvio_connectors.topics.consumers import resume_position, validate_consumer_name
from fluvio_connectors.topics.embedded import EmbeddedTopics

Name = Callable[[str], str]


def fill(topics: Topics, topic: str, count: int, prefix: str = "r") -> list[Record]:
    """Create ``topic`` with ``count`` records ``r0``..; returns them as read back."""
    topics.create_topic(topic)
    with topics.producer(topic) as producer:
        producer.send_many([(None, f"{prefix}{i}".encode()) for i in range(count)])
    records = topics.read(topic)
    assert [r.value for r in records] == [f"{prefix}{i}".encode() for i in range(count)]
    return records


def ours(positions: list[ConsumerPosition], *topics: str) -> list[tuple[str, str, int, int]]:
    """The positions on ``topics`` (a Fluvio cluster holds the whole session's consumers)."""
    return [(p.consumer, p.topic, p.partition, p.offset) for p in positions if p.topic in topics]


def test_a_new_consumer_has_no_position_and_a_commit_sets_it(backend: Topics, topic_name: Name) -> None:
    t = topic_name("t")
    records = fill(backend, t, 5)
    assert backend.consumer_position("reader", t) is None
    third = records[2].offset + 1
    backend.commit("reader", t, third)
    assert backend.consumer_position("reader", t) == third
    # reading never moves it
    assert [r.value for r in backend.read(t, third)] == [b"r3", b"r4"]
    assert backend.consumer_position("reader", t) == third
    end = backend.end_offset(t)
    backend.commit("reader", t, end)  # the end: everything handled
    assert backend.consumer_position("reader", t) == end
    first = records[0].offset + 1
    backend.commit("reader", t, first)  # a commit may move it back (replay)
    assert backend.consumer_position("reader", t) == first
    assert [r.value for r in backend.read(t, backend.consumer_position("reader", t) or 0)][:1] == [b"r1"]


def test_an_empty_partition_and_position_zero_are_positions_too(backend: Topics, topic_name: Name) -> None:
    """A consumer may stand before every record (where a cluster has no record to store)."""
    t = topic_name("empty")
    backend.create_topic(t)
    assert backend.end_offset(t) == 0 and backend.read(t) == []
    backend.commit("waiting", t, 0)
    assert backend.consumer_position("waiting", t) == 0
    assert ours(backend.list_consumers(t), t) == [("waiting", t, 0, 0)]
    with backend.producer(t) as producer:
        producer.send(None, b"first")
    assert backend.consumer_position("waiting", t) == 0  # records arriving do not move it
    first = backend.read(t, 0)
    assert [r.value for r in first] == [b"first"]
    backend.commit("waiting", t, first[0].offset + 1)
    assert backend.consumer_position("waiting", t) == first[0].offset + 1
    backend.commit("waiting", t, 0)  # and back to before the first record
    assert backend.consumer_position("waiting", t) == 0
    assert ours(backend.list_consumers(t), t) == [("waiting", t, 0, 0)]


def test_the_position_survives_the_process_that_committed_it(
    backend: Topics, backend_address: str, topic_name: Name
) -> None:
    t = topic_name("t")
    fill(backend, t, 10)
    program = (
        "import sys\n"
        "from fluvio_connectors.topics.embedded import EmbeddedTopics\n"
        "from fluvio_connectors.topics.fluvio import FluvioTopics\n"
        "where, topic = sys.argv[1:3]\n"
        "t = FluvioTopics(where[7:]) if where.startswith('fluvio:') else EmbeddedTopics(where)\n"
        "records = t.read(topic, t.consumer_position('worker', topic) or 0, max_records=4)\n"
        "t.commit('worker', topic, records[-1].offset + 1)\n"
        "print(','.join(r.value.decode() for r in records))\n"
        "t.close()\n"
    )
    seen = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", program, backend_address, t], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        seen.append(done.stdout.strip())
    assert seen == ["r0,r1,r2,r3", "r4,r5,r6,r7"]
    assert [r.value for r in backend.read(t, backend.consumer_position("worker", t) or 0)] == [b"r8", b"r9"]


def test_resume_position_commits_the_start_of_a_new_consumer(backend: Topics, topic_name: Name) -> None:
    t = topic_name("t")
    fill(backend, t, 4)
    end = backend.end_offset(t)
    assert resume_position(backend, "late", t, start="latest") == end
    assert resume_position(backend, "early", t, start="beginning") == 0
    with backend.producer(t) as producer:
        producer.send(None, b"r4")
    # Once started, a consumer keeps its position whatever start a later reader asks for.
    assert resume_position(backend, "late", t, start="beginning") == end
    assert resume_position(backend, "early", t, start="latest") == 0
    assert [r.value for r in backend.read(t, end)] == [b"r4"]
    with pytest.raises(ConfigError, match="start must be one of latest, beginning, got 'middle'"):
        resume_position(backend, "x", t, start="middle")


def test_a_new_consumer_on_an_empty_topic_gets_the_records_written_while_it_was_away(
    backend: Topics, topic_name: Name
) -> None:
    t = topic_name("quiet")
    backend.create_topic(t)
    assert resume_position(backend, "watcher", t, start="latest") == 0
    with backend.producer(t) as producer:  # written while no reader runs
        producer.send_many([(None, b"a"), (None, b"b")])
    again = resume_position(backend, "watcher", t, start="latest")
    assert [r.value for r in backend.read(t, again)] == [b"a", b"b"]


def test_consumers_and_partitions_are_independent(backend: Topics, topic_name: Name) -> None:
    multi, other = topic_name("multi"), topic_name("other")
    backend.create_topic(multi, partitions=2)
    fill(backend, other, 1)
    with backend.producer(multi) as producer:
        producer.send_many([(None, b"x")] * 6)
    ends = [backend.end_offset(multi, partition) for partition in (0, 1)]
    backend.commit("a", multi, ends[0], partition=0)
    backend.commit("a", multi, 0, partition=1)
    backend.commit("b", multi, ends[0], partition=0)
    backend.commit("a", other, 0)
    assert backend.consumer_position("a", multi, 0) == ends[0]
    assert backend.consumer_position("a", multi, 1) == 0
    assert backend.consumer_position("b", multi, 1) is None
    assert ours(backend.list_consumers(), multi, other) == sorted([
        ("a", multi, 0, ends[0]), ("a", multi, 1, 0), ("a", other, 0, 0), ("b", multi, 0, ends[0]),
    ])
    assert [p.consumer for p in backend.list_consumers(other)] == ["a"]
    assert all(isinstance(p, ConsumerPosition) and p.updated_at > 0 for p in backend.list_consumers(multi))


def test_delete_consumer_on_one_topic_or_all(backend: Topics, topic_name: Name) -> None:
    t1, t2, t3 = topic_name("t1"), topic_name("t2"), topic_name("t3")
    gone, kept = topic_name("gone"), topic_name("kept")  # whole-cluster deletes must not meet other tests
    for topic in (t1, t2):
        end = fill(backend, topic, 1)[0].offset + 1
        backend.commit(gone, topic, end)
        backend.commit(kept, topic, end)
    backend.commit(gone, t2, 0)  # a position before every record is deleted alike
    assert backend.delete_consumer(gone, t1) == 1
    assert backend.consumer_position(gone, t1) is None and backend.consumer_position(gone, t2) == 0
    assert backend.delete_consumer(gone) == 1
    assert [p.consumer for p in backend.list_consumers() if p.topic in (t1, t2)] == [kept, kept]
    with pytest.raises(ConsumerNotFoundError, match=rf"^consumer {gone} has no committed position$"):
        backend.delete_consumer(gone)
    with pytest.raises(ConsumerNotFoundError, match=rf"^consumer {kept} has no committed position on topic {t3}$"):
        backend.delete_consumer(kept, t3)


def test_deleting_a_topic_forgets_its_positions(backend: Topics, topic_name: Name) -> None:
    t = topic_name("t")
    fill(backend, t, 3)
    backend.commit("reader", t, backend.end_offset(t))
    backend.commit("starter", t, 0)
    backend.delete_topic(t)
    assert ours(backend.list_consumers(), t) == []
    fill(backend, t, 1)  # a new topic of the same name is a new log: no position carried over
    assert backend.consumer_position("reader", t) is None
    assert backend.consumer_position("starter", t) is None


BAD_COMMITS = [
    (lambda t, n, end: t.commit("c", n, end + 1), ConfigError,
     "cannot commit position {past} for consumer c: topic {t} partition 0 ends at offset {end}"),
    (lambda t, n, end: t.commit("c", n, -1), ConfigError, "offset must be a non-negative integer, got -1"),
    (lambda t, n, end: t.commit("c", n, 1, partition=1), ConfigError, "topic {t} has (partitions 0..0, not|no partition) 1"),
    (lambda t, n, end: t.commit("c", n + "-nope", 0), TopicNotFoundError, "topic {t}-nope not found"),
    (lambda t, n, end: t.consumer_position("c", n + "-nope"), TopicNotFoundError, "topic {t}-nope not found"),
    (lambda t, n, end: t.consumer_position("c", n, 1), ConfigError, "topic {t} has (partitions 0..0, not|no partition) 1"),
    (lambda t, n, end: t.commit("-c", n, 0), ConfigError, "'-c' is not a valid consumer name; expected"),
    (lambda t, n, end: t.consumer_position("a b", n), ConfigError, "'a b' is not a valid consumer name; expected"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_COMMITS)
def test_bad_commits_say_what_is_wrong_and_change_nothing(backend: Topics, topic_name: Name, call, error, message) -> None:
    t = topic_name("t")
    records = fill(backend, t, 3)
    end = backend.end_offset(t)
    backend.commit("c", t, records[1].offset + 1)
    with pytest.raises(error) as raised:
        call(backend, t, end)
    expected = message.format(t=re.escape(t), end=end, past=end + 1).replace("..", r"\.\.")
    assert re.match(expected, str(raised.value)), str(raised.value)
    assert "\n" not in str(raised.value)
    assert backend.consumer_position("c", t) == records[1].offset + 1


def test_consumer_names() -> None:
    for good in ("a", "airflow-watcher-t", "Team.Reader_2", "x" * 63):
        assert validate_consumer_name(good) == good
    for bad in ("", "x" * 64, "-lead", "with space", "slash/no", None, 3):
        with pytest.raises(ConfigError, match="is not a valid consumer name"):
            validate_consumer_name(bad)


# -- the embedded log only ---------------------------------------------------------------------


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
