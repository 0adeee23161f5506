"""The fluvio backend's client session against ``create_autospec`` of the installed client.

What the backend does is shown against a real cluster (test_contract.py, test_fluvio_bounds.py).
Here the client's classes are replaced by autospecs (tests/fluvio_fakes.py; a wrong method name or
argument count fails as it would on the real client) to reach what a healthy cluster does not
show on demand: a stream that skips records, offsets with no record, refused writes, and the
error texts the backend maps.
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any
from unittest.mock import create_autospec

import fluvio
import pytest
from fluvio_fakes import STAMP_MS, FakeCluster, FakePartition, fake_cluster, in_thread_helper
from polling import wait_until

from fluvio_connectors.errors import (
    BackendError,
    ConfigError,
    ConsumerNotFoundError,
    RecordTooLargeError,
    TopicNotFoundError,
)
from fluvio_connectors.settings import Settings
from fluvio_connectors.topics import Record, open_topics
from fluvio_connectors.topics.fluvio import FluvioTopics
from fluvio_connectors.topics.fluvio_client import frames, offsets, producing
from fluvio_connectors.topics.fluvio_client import session as client_session
from fluvio_connectors.topics.fluvio_client.session import ClientError, Session

ENDPOINT = "127.0.0.1:9003"


@pytest.fixture
def cluster() -> FakeCluster:
    return fake_cluster()


@pytest.fixture
def session(cluster: FakeCluster) -> Session:
    session = Session(cluster.module, ENDPOINT)
    session.handle("connect_admin", ())
    session.handle("connect_client", ())
    return session


def test_the_fake_record_and_stream_have_the_real_ones_methods() -> None:
    for name in ("offset", "key", "value", "timestamp"):
        assert list(inspect.signature(getattr(fluvio.Record, name)).parameters) == ["self"]
    for name in ("offset_commit", "offset_flush", "__next__"):
        assert list(inspect.signature(getattr(fluvio.ConsumerIterator, name)).parameters) == ["self"]
    assert list(inspect.signature(fluvio.Fluvio.delete_consumer_offset).parameters) == ["self", "consumer", "topic",
                                                                                         "partition"]


# -- reading: skipped records and offsets with no record ------------------------------------------------


def test_a_read_restarts_where_the_clients_stream_skipped_records(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition(skip_after=40, skip=7)
    part.fill(100)
    rows, at_end = session.handle("read", ("t1", 0, 0, 1_000))
    assert [row[0] for row in rows] == list(range(100)) and at_end
    # a new stream where each jump began, and one at the end: an empty one says the end is reached
    assert part.streams == [0, 40, 80, 100]


def test_offsets_with_no_record_are_passed_over_not_waited_for(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition()
    part.fill(30, holes={5, 6, 7, 29})
    rows, at_end = session.handle("read", ("t1", 0, 3, 1_000))
    assert [row[0] for row in rows] == [3, 4, *range(8, 29)] and at_end
    assert part.streams == [3, 5, 29]  # one look again at the hole, then on; the last: nothing more


def test_a_read_stops_at_its_limit_without_reaching_the_end(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition()
    part.fill(10)
    rows, at_end = session.handle("read", ("t1", 0, 2, 3))
    assert [row[0] for row in rows] == [2, 3, 4] and not at_end


def test_the_last_offset_looks_further_back_past_offsets_with_no_record(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition()
    part.fill(50, holes=set(range(46, 49)))
    part.records[49] = (None, b"last")
    assert session.handle("last_offset", ("t1", 0)) == 49
    del part.records[49]
    assert session.handle("last_offset", ("t1", 0)) == 45
    cluster.topics["t2"] = FakePartition()
    assert session.handle("last_offset", ("t2", 0)) is None


def test_read_errors_say_what_is_missing(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = FakePartition()
    with pytest.raises(ClientError) as missing:
        session.handle("read", ("nope", 0, 0, 10))
    assert missing.value.kind == client_session.NOT_FOUND
    with pytest.raises(ClientError) as partition:
        session.handle("read", ("t1", 3, 0, 10))
    assert partition.value.kind == client_session.NO_PARTITION


# -- named consumers: offsets with no record ----------------------------------------------------------


def test_a_commit_where_the_offset_below_has_no_record_stores_the_last_record_before_it(
    cluster: FakeCluster, session: Session
) -> None:
    cluster.topics["t1"] = part = FakePartition()
    part.fill(10, holes={4, 5})
    session.handle("consumer_commit", ("c", "t1", 0, 6))  # 6 from end_offset-like arithmetic: 5 has no record
    assert cluster.offsets == {("c", "t1", 0): 3}  # r3 is the last record below 6
    position = session.handle("consumer_position", ("c", "t1", 0))
    assert position == 4
    rows, _ = session.handle("read", ("t1", 0, position, 100))
    assert [row[0] for row in rows] == [6, 7, 8, 9]  # the same records as from 6


def test_a_position_before_the_first_readable_record_is_a_start_marker(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition()
    part.fill(10, holes=set(range(5)))  # the first records are gone (retention)
    session.handle("consumer_commit", ("c", "t1", 0, 3))
    assert ("c", "t1", 0) not in cluster.offsets
    assert cluster.offsets[("c/t1/0", offsets.MARKER_TOPIC, 0)] == 0
    assert cluster.topics[offsets.MARKER_TOPIC].records[0][1] == offsets.MARKER_VALUE
    assert session.handle("consumer_position", ("c", "t1", 0)) == 0
    assert session.handle("consumer_list", ("t1",)) == [("c", "t1", 0, 0, STAMP_MS // 1000)]
    session.handle("consumer_commit", ("c", "t1", 0, 7))  # a record below: the marker goes
    assert cluster.offsets == {("c", "t1", 0): 6}
    assert session.handle("consumer_list", ("t1",)) == [("c", "t1", 0, 7, STAMP_MS // 1000)]


def test_a_marker_left_beside_an_offset_loses_to_it_and_dies_with_its_topic(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition()
    part.fill(4)
    session.handle("consumer_commit", ("c", "t1", 0, 0))
    cluster.offsets[("c", "t1", 0)] = 2  # e.g. ``fluvio consume -c c`` committed meanwhile
    assert session.handle("consumer_position", ("c", "t1", 0)) == 3
    assert session.handle("consumer_list", (None,)) == [("c", "t1", 0, 3, STAMP_MS // 1000)]
    cluster.admin.delete_topic.side_effect = lambda name: cluster.topics.pop(name)
    session.handle("delete_topic", ("t1",))
    assert ("c/t1/0", offsets.MARKER_TOPIC, 0) not in cluster.offsets


def test_a_commit_past_the_end_is_refused_and_stores_nothing(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition()
    part.fill(3)
    with pytest.raises(ClientError) as refused:
        session.handle("consumer_commit", ("c", "t1", 0, 4))
    assert refused.value.kind == client_session.REFUSED
    assert str(refused.value) == "cannot commit position 4 for consumer c: topic t1 partition 0 ends at offset 3"
    assert cluster.offsets == {}


def test_named_consumer_errors_through_the_backend(cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    in_thread_helper(monkeypatch, cluster)
    cluster.topics["t1"] = part = FakePartition()
    part.fill(3)
    with FluvioTopics(ENDPOINT) as topics:
        with pytest.raises(ConfigError, match=r"^cannot commit position 9 for consumer c: topic t1 partition 0 ends at offset 3$"):
            topics.commit("c", "t1", 9)
        with pytest.raises(TopicNotFoundError, match=r"^topic nope not found$"):
            topics.consumer_position("c", "nope")
        with pytest.raises(ConfigError, match=r"^topic t1 has no partition 2$"):
            topics.commit("c", "t1", 0, partition=2)
        with pytest.raises(ConsumerNotFoundError, match=r"^consumer c has no committed position$"):
            topics.delete_consumer("c")
        topics.commit("c", "t1", 3)
        assert topics.consumer_position("c", "t1") == 3
        assert topics.delete_consumer("c") == 1


# -- producing --------------------------------------------------------------------------------------


def _outputs(count: int, refused: set[int] = frozenset()) -> list[Any]:  # type: ignore[assignment]
    """Results of ``send_all`` as the client returns them; those at ``refused`` fail their wait."""
    outputs = [create_autospec(fluvio.ProduceOutput, instance=True) for _ in range(count)]
    for index in refused:
        outputs[index].wait.side_effect = fluvio.FluviorError("the message is too large to send")
    return outputs


def test_a_refused_batch_fails_the_flush_and_the_producer_is_dropped(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = FakePartition()
    producer_id = session.handle("producer_open", ("t1",))
    session.handle("produce", (producer_id, None, [b"a", b"b"], [2]))
    session.handle("produce", (producer_id, [b"", b"k"], [b"c", b"d"], [2]))
    [inner] = cluster.producers
    assert [c.args[0] for c in inner.send_all.call_args_list] == [[(b"", b"a"), (b"", b"b")],
                                                                  [(b"", b"c"), (b"k", b"d")]]
    session.handle("producer_flush", (producer_id,))
    inner.flush.assert_called_once_with()

    inner.send_all.side_effect = [_outputs(3, refused={2})]
    session.handle("produce", (producer_id, None, [b"x"] * 3, [3]))
    with pytest.raises(ClientError, match="the message is too large"):
        session.handle("producer_flush", (producer_id,))
    with pytest.raises(ClientError, match="the producer is gone"):  # the caller opens another one
        session.handle("producer_flush", (producer_id,))


def test_flush_reads_one_result_a_call_and_every_batch_on_one_partition(cluster: FakeCluster, session: Session) -> None:
    """A call's records fit in one of the client's batches: the last result of each call is
    enough (producing.py says why), and a refused one fails the flush."""
    cluster.topics["t1"] = FakePartition()
    producer_id = session.handle("producer_open", ("t1",))
    [inner] = cluster.producers
    per_call = 13
    values = [bytes(producing.CALL_BYTES // per_call - producing.RECORD_OVERHEAD)] * 40  # calls of 13, 13, 13, 1
    results: list[list[Any]] = []

    def send_all(records: list[Any]) -> list[Any]:
        results.append(_outputs(len(records)))
        return results[-1]

    inner.send_all.side_effect = send_all
    for frame in frames.frames(None, values):
        session.handle("produce", (producer_id, *frame))
    calls = [c.args[0] for c in inner.send_all.call_args_list]
    assert [record for call in calls for record in call] == [(b"", v) for v in values]
    assert [len(call) for call in calls] == [per_call] * 3 + [1]
    results[1][-1].wait.side_effect = fluvio.FluviorError("the message is too large to send")
    with pytest.raises(ClientError, match="the message is too large"):
        session.handle("producer_flush", (producer_id,))
    assert [[o.wait.call_count for o in call] for call in results[:2]] == [[0] * (per_call - 1) + [1]] * 2


def test_on_several_partitions_flush_reads_every_result(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = FakePartition(partitions=3)
    producer_id = session.handle("producer_open", ("t1",))
    [inner] = cluster.producers
    inner.send_all.side_effect = [_outputs(50, refused={7})]
    session.handle("produce", (producer_id, None, [bytes(1_000)] * 50, [14, 28, 42, 50]))
    assert inner.send_all.call_count == 1  # the partitioner spreads them: batches are per partition
    with pytest.raises(ClientError, match="the message is too large"):
        session.handle("producer_flush", (producer_id,))


@pytest.mark.parametrize("sizes", [[100] * 5_000, [15_000, 10, 70_000, 10, 10], [60_000] * 3, [1] * 5, [],
                                   [200_000, 100, 100], [550] * 3_000])
def test_frames_carry_every_record_once_in_calls_that_fit_one_batch(sizes: list[int]) -> None:
    values = [bytes(n) for n in sizes]
    cut = frames.frames(None, values)
    assert [v for _, frame_values, _ in cut for v in frame_values] == values
    for keys, frame_values, ends in cut:
        assert keys is None and ends[-1] == len(frame_values) and ends == sorted(set(ends))
        assert len(frame_values) <= frames.FRAME_RECORDS
        assert sum(map(len, frame_values)) <= frames.FRAME_BYTES or len(ends) == 1
        for start, end in zip([0, *ends[:-1]], ends, strict=True):
            size = sum(len(v) + producing.RECORD_OVERHEAD for v in frame_values[start:end])
            assert size <= producing.CALL_BYTES or end - start == 1
    calls = [[len(v) for v in frame_values[start:end]]
             for _, frame_values, ends in cut for start, end in zip([0, *ends[:-1]], ends, strict=True)]
    for call, following in itertools.pairwise(calls):  # and each call holds as much as fits
        assert sum(n + producing.RECORD_OVERHEAD for n in [*call, following[0]]) > producing.CALL_BYTES
    big_key = bytes(producing.CALL_BYTES // 2)
    [(keys, _, ends)] = frames.frames([big_key] * 4, [b"v"] * 4)
    assert keys == [big_key] * 4 and ends == [1, 2, 3, 4]  # keys count too


def test_a_send_error_is_reported_by_the_next_flush(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = FakePartition()
    producer_id = session.handle("producer_open", ("t1",))
    cluster.producers[0].send_all.side_effect = fluvio.FluviorError("the SPU is offline")
    session.handle("produce", (producer_id, None, [b"a"], [1]))
    with pytest.raises(ClientError, match="the SPU is offline"):
        session.handle("producer_flush", (producer_id,))


def test_a_producer_for_a_missing_topic(cluster: FakeCluster, session: Session) -> None:
    with pytest.raises(ClientError) as missing:
        session.handle("producer_open", ("nope",))
    assert missing.value.kind == client_session.NOT_FOUND
    cluster.client.topic_producer_with_config.assert_not_called()


# -- the error texts of the client, mapped -----------------------------------------------------------


@pytest.mark.parametrize(("text", "kind"), [
    ("Topic already exists", client_session.EXISTS),
    ("Topic not found: t1", client_session.NOT_FOUND),
    ("Partition not found: t1-3", client_session.NO_PARTITION),
    ("Invalid topic name: topic name may only include lowercase letters", client_session.INVALID),
    ("Socket io Timed out: 60 secs waiting for response. API_KEY=1001", client_session.FAILED),
])
def test_client_errors_are_classified(cluster: FakeCluster, session: Session, text: str, kind: str) -> None:
    cluster.admin.create_topic.side_effect = fluvio.FluviorError(text)
    with pytest.raises(ClientError) as refused:
        session.handle("create_topic", ("t1", 1))
    assert refused.value.kind == kind


def test_create_topic_sends_a_built_topic_spec(cluster: FakeCluster, session: Session) -> None:
    session.handle("create_topic", ("t1", 3))
    name, spec = cluster.admin.create_topic.call_args.args
    assert name == "t1" and isinstance(spec, fluvio.topic._TopicSpec)


def test_without_an_endpoint_the_users_profile_is_used(cluster: FakeCluster) -> None:
    session = Session(cluster.module, None)
    session.handle("connect_admin", ())
    session.handle("connect_client", ())
    cluster.module.FluvioAdmin.connect.assert_called_once_with()
    cluster.module.Fluvio.connect.assert_called_once_with()
    cluster.module.FluvioConfig.new.assert_not_called()


# -- FluvioTopics on the session, in a thread -------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster) -> FakeCluster:
    in_thread_helper(monkeypatch, cluster)
    return cluster


def test_records_map_keys_and_timestamps(served: FakeCluster) -> None:
    served.topics["t1"] = part = FakePartition()
    part.records.update({4: (None, b"a"), 5: (b"k", b"b"), 6: (b"", b"c")})
    with FluvioTopics(ENDPOINT) as topics:
        assert topics.read("t1", 4) == [
            Record(4, None, b"a", 1_700_000_000.123),
            Record(5, b"k", b"b", 1_700_000_000.123),
            Record(6, None, b"c", 1_700_000_000.123),
        ]


def test_reading_counts_records_across_skips_and_holes(served: FakeCluster) -> None:
    served.topics["t1"] = part = FakePartition(skip_after=900, skip=13)
    part.fill(12_000, holes={100, 101, 11_999})
    with FluvioTopics(ENDPOINT) as topics:
        records = topics.read("t1")
        assert len(records) == 11_997 and records[-1].offset == 11_998
        assert topics.end_offset("t1") == 11_999
        assert [r.offset for r in topics.read("t1", 99, max_records=3)] == [99, 102, 103]
        followed = [r.offset for r in topics.stream("t1", 11_990, poll_interval=0.01, timeout=0.2)]
        assert followed == list(range(11_990, 11_999))


def test_open_topics_chooses_fluvio_when_an_endpoint_is_set_and_connects_on_first_use(served: FakeCluster) -> None:
    topics = open_topics(Settings(home=Settings.from_env().home, fluvio_endpoint=ENDPOINT))
    assert isinstance(topics, FluvioTopics)
    served.module.FluvioAdmin.connect_with_config.assert_not_called()  # opening costs nothing
    assert topics.list_topics() == []
    served.module.FluvioConfig.new.assert_called_once_with(ENDPOINT)
    topics.close()


def test_a_refused_record_surfaces_at_flush_and_is_sent_again_by_the_next(served: FakeCluster) -> None:
    served.topics["t1"] = FakePartition()
    with FluvioTopics(ENDPOINT) as topics:
        producer = topics.producer("t1")
        producer.send(None, b"too big")
        [inner] = served.producers
        refused = create_autospec(fluvio.ProduceOutput, instance=True)
        refused.wait.side_effect = fluvio.FluviorError("the message is too large to send")
        inner.send_all.side_effect = None
        inner.send_all.return_value = [refused]
        with pytest.raises(BackendError, match="storing records in t1 failed: the message is too large"):
            producer.flush()
        producer.flush()  # on a producer opened again
        sent = [c.args[0] for inner in served.producers for c in inner.send_all.call_args_list]
        assert sent == [[(b"", b"too big")]] * 2


def test_keys_values_and_their_order_reach_the_client_as_sent(served: FakeCluster) -> None:
    served.topics["t1"] = FakePartition()
    with FluvioTopics(ENDPOINT) as topics, topics.producer("t1") as producer:
        producer.send_many([(None, b"a"), (None, b"b")])
        producer.send_many([(b"k", b"c"), (None, b"d")])
        producer.send_many(iter([("clé", "välue"), (bytearray(b"k2"), memoryview(b"e"))]))  # type: ignore[arg-type]
        producer.flush()
        [inner] = served.producers
        sent = [record for c in inner.send_all.call_args_list for record in c.args[0]]
    assert sent == [(b"", b"a"), (b"", b"b"), (b"k", b"c"), (b"", b"d"), ("clé".encode(), "välue".encode()),
                    (b"k2", b"e")]


def test_a_producer_sends_once_a_batch_is_full_and_the_rest_at_flush(served: FakeCluster) -> None:
    served.topics["t1"] = FakePartition()
    with FluvioTopics(ENDPOINT) as topics:
        producer = topics.producer("t1", batch_size=3)
        producer.send_many((None, b"x") for _ in range(2))
        producer.send_many((None, b"y") for _ in range(2))
        [inner] = served.producers
        wait_until(lambda: inner.send_all.call_count == 1, 10, "the lingered send")
        producer.send(None, b"z")
        producer.flush()
        assert [c.args[0] for c in inner.send_all.call_args_list] == [[(b"", b"x")] * 2 + [(b"", b"y")] * 2,
                                                                      [(b"", b"z")]]
        producer.close()


def test_a_record_over_the_request_limit_is_refused_before_it_is_queued(served: FakeCluster) -> None:
    """The client refuses a record over its request size at every flush, for good (issue 22: an MQTT
    message of 300 KB made a record over the client's default 1 MiB, and its connector crash-looped)."""
    served.topics["t1"] = FakePartition()
    with FluvioTopics(ENDPOINT) as topics:
        producer = topics.producer("t1")
        assert producer.max_record_bytes == 16 * 1024 * 1024 - 64
        with pytest.raises(RecordTooLargeError, match="larger than topic t1 can store"):
            producer.send_many([(None, b"ok"), (b"k", b"x" * producer.max_record_bytes)])
        producer.send(None, b"fits")
        producer.close()
        [inner] = served.producers
        assert [record for c in inner.send_all.call_args_list for record in c.args[0]] == [(b"", b"fits")]


# -- FluvioTopics' own checks, before any call ------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["", "  ", "host :9003", "host:99999", "http://host:9003", "ho\nst:9003"])
def test_a_malformed_endpoint_is_a_config_error(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="expected host:port such as fluvio-sc:9003"):
        FluvioTopics(endpoint)


@pytest.mark.parametrize("timeout", [0, -1, "5", True])
def test_timeouts_must_be_positive_seconds(timeout: Any) -> None:
    with pytest.raises(ConfigError, match="must be a positive number of seconds"):
        FluvioTopics(ENDPOINT, timeout=timeout)


def test_names_are_checked_before_calling_the_cluster(served: FakeCluster) -> None:
    with FluvioTopics(ENDPOINT) as topics, pytest.raises(ConfigError, match="not a valid topic name"):
        topics.create_topic("Bad_Name")
    served.module.FluvioAdmin.connect_with_config.assert_not_called()


def test_deleting_a_missing_topic(served: FakeCluster) -> None:
    served.admin.delete_topic.side_effect = fluvio.FluviorError("Topic not found")
    with FluvioTopics(ENDPOINT) as topics, pytest.raises(TopicNotFoundError, match="topic t1 not found"):
        topics.delete_topic("t1")


def test_the_autospec_catches_a_wrong_call() -> None:
    """The guard this file relies on: a call the real client would refuse fails here too."""
    client = create_autospec(fluvio.Fluvio, instance=True)
    with pytest.raises(TypeError):
        client.partition_consumer("t1")  # the real method needs the partition too


# -- producer.batch-size and producer.compression -------------------------------------------------


class _Builder:
    """The client's ``TopicProducerConfigBuilder``, noting what it is told."""

    told: list[tuple[str, Any]]

    def __init__(self) -> None:
        self.told = []
        _Builder.last = self

    def __getattr__(self, name: str) -> Any:
        def tell(*args: Any) -> Any:
            self.told.append((name, *args))
            return self

        return tell


@pytest.mark.parametrize(
    ("batch_bytes", "compression", "told"),
    [
        (None, "none", [("batch_size", producing.CLIENT_BATCH_BYTES), ("linger", producing.CLIENT_LINGER_MS),
                        ("max_request_size", producing.MAX_REQUEST_BYTES)]),
        (16_384, "gzip", [("batch_size", 16_384), ("linger", producing.CLIENT_LINGER_MS),
                          ("max_request_size", producing.MAX_REQUEST_BYTES), ("compression", fluvio.Compression.Gzip)]),
        (32 * 1024 * 1024, "zstd", [("batch_size", 32 * 1024 * 1024), ("linger", producing.CLIENT_LINGER_MS),
                                    ("max_request_size", 32 * 1024 * 1024), ("compression", fluvio.Compression.Zstd)]),
    ],
)
def test_the_configs_batch_size_and_compression_reach_the_client(batch_bytes: int | None, compression: str,
                                                                  told: list[tuple[Any, ...]]) -> None:
    module = type("Client", (), {"TopicProducerConfigBuilder": _Builder, "Compression": fluvio.Compression})
    producing.producer_config(module, one_partition=True, batch_bytes=batch_bytes, compression=compression)
    assert _Builder.last.told == [*told, ("set_specific_partitioner", 0), ("build",)]


def test_calls_are_cut_to_the_configured_batch() -> None:
    values = [bytes(100 - producing.RECORD_OVERHEAD)] * 100  # 100 encoded bytes each
    ends = [end for frame in frames.frames(None, values, producing.call_bytes(2_048)) for end in frame[2]]
    assert ends == list(range(10, 101, 10))  # 1024 bytes a call: ten records
    assert producing.call_bytes(100) == 1  # below the margin: a record a call


def test_a_compression_the_client_lacks_is_refused() -> None:
    with FluvioTopics("127.0.0.1:9003") as topics, pytest.raises(ConfigError, match="compression must be none or one of"):
        topics.producer("t1", compression="brotli")
