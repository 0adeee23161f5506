"""What a commit commits on a real Fluvio cluster, seen by Fluvio's own client and CLI.

The project stores a named consumer's position P as the cluster's consumer offset P - 1 (the last
record handled), so Fluvio's tools resume where the project committed and the reverse; a position
with no record below it is a start marker on the project's own topic. The ``fluvio`` client runs
in a child process here, as everywhere in the project (it holds the GIL while it waits).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from fluvio_cluster import FluvioCluster

from fluvio_connectors.topics import Record
from fluvio_connectors.topics.fluvio import FluvioTopics
from fluvio_connectors.topics.fluvio_client.offsets import MARKER_TOPIC

pytestmark = pytest.mark.fluvio

# The client as a user of Fluvio would use it: ``offsets`` lists the cluster's consumer offsets of a
# topic (and the start markers naming it); ``read CONSUMER COUNT FLUSH`` reads COUNT records as that consumer from where the cluster
# has it (``Offset.beginning()``: the stored offset + 1), commits, and flushes when FLUSH is 1.
RAW_CLIENT = """
import json, sys
from fluvio import ConsumerConfigExtBuilder, Fluvio, FluvioConfig, Offset, OffsetManagementStrategy
endpoint, topic, action, *args = sys.argv[1:]
client = Fluvio.connect_with_config(FluvioConfig.new(endpoint))
if action == "offsets":
    rows = [[o.consumer_id, o.topic, o.partition, o.offset] for o in client.consumer_offsets()]
    print(json.dumps(sorted(row for row in rows if row[1] == topic or f"/{topic}/" in row[0])))
else:
    consumer, count, flush = args[0], int(args[1]), args[2] == "1"
    builder = ConsumerConfigExtBuilder(topic)
    builder.partition(0)
    builder.offset_start(Offset.beginning())
    builder.offset_consumer(consumer)
    builder.offset_strategy(OffsetManagementStrategy.MANUAL)
    builder.disable_continuous(True)
    stream = client.consumer_with_config(builder.build())
    read = [next(stream).offset() for _ in range(count)]
    stream.offset_commit()
    if flush:
        stream.offset_flush()
    print(json.dumps(read))
"""


def raw(endpoint: str, topic: str, *args: str) -> object:
    done = subprocess.run([sys.executable, "-c", RAW_CLIENT, endpoint, topic, *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def topics(fluvio_cluster: FluvioCluster) -> Iterator[FluvioTopics]:
    backend = FluvioTopics(fluvio_cluster.endpoint)
    yield backend
    backend.close()


@pytest.fixture
def six(topics: FluvioTopics) -> tuple[str, list[Record]]:
    """A new topic holding r0..r5, and its records."""
    topic = f"offsets-{uuid.uuid4().hex[:8]}"
    topics.create_topic(topic)
    with topics.producer(topic) as producer:
        producer.send_many([(None, f"r{i}".encode()) for i in range(6)])
    return topic, topics.read(topic)


def test_a_commit_stores_the_offset_of_the_last_record_handled(
    fluvio_cluster: FluvioCluster, topics: FluvioTopics, six: tuple[str, list[Record]]
) -> None:
    topic, records = six
    topics.commit("project", topic, records[2].offset + 1)  # r0..r2 handled
    assert raw(fluvio_cluster.endpoint, topic, "offsets") == [["project", topic, 0, records[2].offset]]
    # Fluvio's own consumer of that name goes on with r3 (and commits r4 after reading two).
    assert raw(fluvio_cluster.endpoint, topic, "read", "project", "2", "1") == [records[3].offset, records[4].offset]
    assert topics.consumer_position("project", topic) == records[4].offset + 1


def test_a_position_written_by_fluvios_client_is_the_projects_position(
    fluvio_cluster: FluvioCluster, topics: FluvioTopics, six: tuple[str, list[Record]]
) -> None:
    topic, records = six
    assert raw(fluvio_cluster.endpoint, topic, "read", "outside", "4", "1") == [r.offset for r in records[:4]]
    assert topics.consumer_position("outside", topic) == records[3].offset + 1
    assert [r.value for r in topics.read(topic, topics.consumer_position("outside", topic) or 0)] == [b"r4", b"r5"]
    # A commit that is never flushed stores nothing.
    raw(fluvio_cluster.endpoint, topic, "read", "unflushed", "2", "0")
    assert topics.consumer_position("unflushed", topic) is None


def test_a_position_before_every_record_is_a_start_marker(
    fluvio_cluster: FluvioCluster, topics: FluvioTopics, six: tuple[str, list[Record]]
) -> None:
    topic, records = six
    topics.commit("replay", topic, records[3].offset + 1)
    topics.commit("replay", topic, 0)  # everything again: no record to store, so a marker
    assert raw(fluvio_cluster.endpoint, topic, "offsets") == [[f"replay/{topic}/0", MARKER_TOPIC, 0, 0]]
    assert topics.consumer_position("replay", topic) == 0
    assert topics.delete_consumer("replay", topic) == 1
    assert raw(fluvio_cluster.endpoint, topic, "offsets") == []


def test_fluvio_consume_resumes_where_the_project_committed(
    fluvio_cluster: FluvioCluster, topics: FluvioTopics, six: tuple[str, list[Record]]
) -> None:
    topic, records = six
    topics.commit("shared", topic, records[1].offset + 1)
    shown = fluvio_cluster.cli("consume", topic, "-c", "shared", "-d")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["r2", "r3", "r4", "r5"]
    assert topics.consumer_position("shared", topic) == records[5].offset + 1  # fluvio consume committed
