"""The fluvio backend against the installed client's real classes.

No Fluvio cluster runs here, so the client's entry points are replaced by ``create_autospec`` of
the real classes: every call the backend makes is checked against the installed client's real
signatures (a wrong argument count or a misspelt method fails the test). Builders that need no
cluster (``TopicSpec``, ``ConsumerConfigExtBuilder``, ``Offset``) are the real ones.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest.mock import create_autospec

import fluvio
import pytest
from fluvio import _fluvio_python

from fluvio_connectors.errors import BackendError, ConfigError, TopicNotFoundError
from fluvio_connectors.settings import Settings
from fluvio_connectors.topics import Record, open_topics
from fluvio_connectors.topics.fluvio import FluvioTopics

ENDPOINT = "127.0.0.1:9003"
STAMP_MS = 1_700_000_000_123


@dataclass
class Cluster:
    """The mocked client classes and the instances they hand out."""

    client_cls: Any
    admin_cls: Any
    config_cls: Any
    client: Any
    admin: Any
    topics: list[str]


def _topic_spec(name: str) -> Any:
    spec = create_autospec(_fluvio_python.MetadataTopicSpec, instance=True)
    spec.name.return_value = name
    return spec


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Cluster:
    client = create_autospec(fluvio.Fluvio, instance=True)
    admin = create_autospec(fluvio.FluvioAdmin, instance=True)
    client_cls = create_autospec(fluvio.Fluvio)
    client_cls.connect_with_config.return_value = client
    client_cls.connect.return_value = client
    admin_cls = create_autospec(fluvio.FluvioAdmin)
    # FluvioAdmin.connect/connect_with_config are plain functions called on the class, which
    # autospec would take for methods (swallowing `config` as self): spec the functions themselves.
    admin_cls.connect = create_autospec(fluvio.FluvioAdmin.__dict__["connect"], return_value=admin)
    admin_cls.connect_with_config = create_autospec(
        fluvio.FluvioAdmin.__dict__["connect_with_config"], return_value=admin
    )
    config_cls = create_autospec(fluvio.FluvioConfig)
    config_cls.new.return_value = create_autospec(fluvio.FluvioConfig, instance=True)
    monkeypatch.setattr(fluvio, "Fluvio", client_cls)
    monkeypatch.setattr(fluvio, "FluvioAdmin", admin_cls)
    monkeypatch.setattr(fluvio, "FluvioConfig", config_cls)

    state = Cluster(client_cls, admin_cls, config_cls, client, admin, topics=[])
    admin.all_topics.side_effect = lambda: [_topic_spec(n) for n in state.topics]
    admin.list_topics.side_effect = lambda filters: [_topic_spec(n) for n in state.topics if n in filters]
    return state


def raw_record(offset: int, value: bytes, key: bytes | None = None, timestamp_ms: int = STAMP_MS) -> Any:
    """A record as the client's native stream yields it (wrapped by the real ``fluvio.Record``)."""
    record = create_autospec(_fluvio_python.Record, instance=True)
    record.offset.return_value = offset
    record.value.return_value = list(value)  # the client hands back a list of ints
    record.key.return_value = list(key) if key is not None else list(b"No key")
    record.timestamp.return_value = timestamp_ms
    return record


def native_stream(raws: list[Any], then: Callable[[], None] = lambda: None) -> Any:
    """The client's native stream: ``next()`` gives the records, then ``None`` (the end)."""
    stream = create_autospec(_fluvio_python.PartitionConsumerStream, instance=True)
    feed = iter(raws)

    def next_item() -> Any:
        item = next(feed, None)
        if item is None:
            then()
        return item

    stream.next.side_effect = next_item
    return stream


def consumer_iterator(raws: list[Any]) -> fluvio.ConsumerIterator:
    """What ``Fluvio.consumer_with_config`` returns: the real iterator over a native stream."""
    return fluvio.ConsumerIterator(native_stream(raws))


# -- connecting -----------------------------------------------------------------------------------


def test_open_topics_chooses_fluvio_when_an_endpoint_is_set(cluster: Cluster) -> None:
    topics = open_topics(Settings(home=Settings.from_env().home, fluvio_endpoint=ENDPOINT))
    assert isinstance(topics, FluvioTopics)
    cluster.client_cls.connect_with_config.assert_not_called()  # opening is free; calls connect
    cluster.admin_cls.connect_with_config.assert_not_called()
    assert topics.list_topics() == []
    cluster.config_cls.new.assert_called_once_with(ENDPOINT)
    cluster.admin_cls.connect_with_config.assert_called_once_with(cluster.config_cls.new.return_value)


def test_without_an_endpoint_the_users_profile_is_used(cluster: Cluster) -> None:
    topics = FluvioTopics(None)
    topics.list_topics()
    cluster.admin_cls.connect.assert_called_once_with()
    cluster.config_cls.new.assert_not_called()


def test_clients_are_connected_once(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    topics = FluvioTopics(ENDPOINT)
    topics.list_topics()
    topics.topic_exists("t1")
    topics.producer("t1")
    topics.producer("t1")
    assert cluster.admin_cls.connect_with_config.call_count == 1
    assert cluster.client_cls.connect_with_config.call_count == 1


def test_an_unreachable_cluster_is_a_backend_error_naming_it(cluster: Cluster) -> None:
    refused = fluvio.FluviorError("Connection refused (os error 111)")
    cluster.admin_cls.connect_with_config.side_effect = refused
    with pytest.raises(BackendError, match=f"cannot connect to Fluvio at {ENDPOINT}: Connection refused"):
        FluvioTopics(ENDPOINT).list_topics()


def test_a_cluster_that_never_answers_times_out(cluster: Cluster) -> None:
    release = threading.Event()
    cluster.admin_cls.connect_with_config.side_effect = lambda config: release.wait(10)
    try:
        with pytest.raises(BackendError, match=r"no answer within 0\.2 s"):
            FluvioTopics(ENDPOINT, connect_timeout=0.2).list_topics()
    finally:
        release.set()


@pytest.mark.parametrize("endpoint", ["", "  ", "host :9003"])
def test_a_malformed_endpoint_is_a_config_error(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="the Fluvio endpoint must be host:port"):
        FluvioTopics(endpoint)


def test_the_real_client_against_a_closed_port_fails_clearly() -> None:
    """No mocks: the installed client tries a loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendError, match=f"cannot connect to Fluvio at 127.0.0.1:{port}"):
        FluvioTopics(f"127.0.0.1:{port}", connect_timeout=10).list_topics()


# -- admin -------------------------------------------------------------------------------------


def test_create_topic_sends_a_built_topic_spec(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    partitions_asked: list[int] = []
    real_with_partitions = fluvio.TopicSpec.with_partitions

    def with_partitions(self: fluvio.TopicSpec, partitions: int) -> fluvio.TopicSpec:
        partitions_asked.append(partitions)
        return real_with_partitions(self, partitions)

    monkeypatch.setattr(fluvio.TopicSpec, "with_partitions", with_partitions)
    assert FluvioTopics(ENDPOINT).create_topic("t1", partitions=3) is True
    name, spec = cluster.admin.create_topic.call_args.args
    assert name == "t1"
    assert isinstance(spec, _fluvio_python.TopicSpec)  # built, as the client's create_topic expects
    assert partitions_asked == [3]


def test_create_an_existing_topic_returns_false(cluster: Cluster) -> None:
    cluster.admin.create_topic.side_effect = fluvio.FluviorError("Topic already exists")
    assert FluvioTopics(ENDPOINT).create_topic("t1") is False


def test_create_topic_other_failures_are_backend_errors(cluster: Cluster) -> None:
    cluster.admin.create_topic.side_effect = fluvio.FluviorError("the SPU is offline")
    with pytest.raises(BackendError, match=f"at {ENDPOINT}: creating topic t1 failed: the SPU is offline"):
        FluvioTopics(ENDPOINT).create_topic("t1")


def test_create_topic_checks_names_before_calling_the_cluster(cluster: Cluster) -> None:
    with pytest.raises(ConfigError, match="not a valid topic name"):
        FluvioTopics(ENDPOINT).create_topic("Bad_Name")
    cluster.admin_cls.connect_with_config.assert_not_called()


def test_delete_topic(cluster: Cluster) -> None:
    FluvioTopics(ENDPOINT).delete_topic("t1")
    cluster.admin.delete_topic.assert_called_once_with("t1")


def test_delete_a_missing_topic(cluster: Cluster) -> None:
    cluster.admin.delete_topic.side_effect = fluvio.FluviorError("Topic not found")
    with pytest.raises(TopicNotFoundError, match="topic t1 not found"):
        FluvioTopics(ENDPOINT).delete_topic("t1")


def test_list_and_exists(cluster: Cluster) -> None:
    cluster.topics[:] = ["zeta", "alpha"]
    topics = FluvioTopics(ENDPOINT)
    assert topics.list_topics() == ["alpha", "zeta"]
    assert topics.topic_exists("alpha") is True
    assert topics.topic_exists("beta") is False
    cluster.admin.list_topics.assert_called_with(["beta"])


# -- producing ----------------------------------------------------------------------------------


def _producer_mock(cluster: Cluster) -> tuple[Any, list[Any]]:
    inner = create_autospec(fluvio.TopicProducer, instance=True)
    outputs: list[Any] = []

    def send(key: bytes, value: bytes) -> Any:
        output = create_autospec(fluvio.ProduceOutput, instance=True)
        outputs.append(output)
        return output

    inner.send.side_effect = send
    cluster.client.topic_producer.return_value = inner
    cluster.client.topic_producer_with_config.return_value = inner
    return inner, outputs


def test_producer_for_a_missing_topic(cluster: Cluster) -> None:
    with pytest.raises(TopicNotFoundError, match="topic t1 not found"):
        FluvioTopics(ENDPOINT).producer("t1")
    cluster.client.topic_producer.assert_not_called()


def test_producer_sends_and_flush_waits_for_every_record(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    inner, outputs = _producer_mock(cluster)
    producer = FluvioTopics(ENDPOINT).producer("t1")
    producer.send(None, b"a")
    producer.send_many([(b"k", b"b")])
    assert [c.args for c in inner.send.call_args_list] == [(b"", b"a"), (b"k", b"b")]
    inner.flush.assert_not_called()
    producer.flush()
    inner.flush.assert_called_once_with()
    for output in outputs:
        output.wait.assert_called_once_with()
    producer.close()


def test_linger_uses_the_clients_producer_config(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    _producer_mock(cluster)
    FluvioTopics(ENDPOINT).producer("t1", linger_ms=100)
    topic, config = cluster.client.topic_producer_with_config.call_args.args
    assert topic == "t1"
    assert isinstance(config, fluvio.TopicProducerConfig)


def test_a_full_batch_is_flushed_without_being_asked(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    inner, _ = _producer_mock(cluster)
    producer = FluvioTopics(ENDPOINT).producer("t1", batch_size=3)
    producer.send_many((None, b"x") for _ in range(7))
    assert inner.flush.call_count == 2


def test_a_refused_record_surfaces_at_flush(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    _, outputs = _producer_mock(cluster)
    producer = FluvioTopics(ENDPOINT).producer("t1")
    producer.send(None, b"too big")
    outputs[0].wait.side_effect = fluvio.FluviorError("the message is too large to send")
    with pytest.raises(BackendError, match="storing a record to t1 failed: the message is too large"):
        producer.flush()


# -- reading ------------------------------------------------------------------------------------


def test_read_maps_records_and_stops_at_the_end(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    cluster.client.consumer_with_config.return_value = consumer_iterator([
        raw_record(4, b"a"),
        raw_record(5, b"b", key=b"k"),
        raw_record(6, b"c", key=b""),
    ])
    records = FluvioTopics(ENDPOINT).read("t1", 4)
    assert records == [
        Record(4, None, b"a", 1_700_000_000.123),
        Record(5, b"k", b"b", 1_700_000_000.123),
        Record(6, None, b"c", 1_700_000_000.123),
    ]
    [config] = cluster.client.consumer_with_config.call_args.args
    assert isinstance(config, fluvio.ConsumerConfigExt)


def test_read_respects_max_records(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    cluster.client.consumer_with_config.return_value = consumer_iterator(
        [raw_record(i, b"v") for i in range(10)]
    )
    assert [r.offset for r in FluvioTopics(ENDPOINT).read("t1", max_records=3)] == [0, 1, 2]


def test_a_record_without_timestamp(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    no_stamp = raw_record(0, b"a", timestamp_ms=-1)
    cluster.client.consumer_with_config.return_value = consumer_iterator([no_stamp])
    assert FluvioTopics(ENDPOINT).read("t1")[0].timestamp == 0.0


def test_end_offset_is_one_past_the_last_record(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    cluster.client.consumer_with_config.return_value = consumer_iterator([raw_record(41, b"last")])
    assert FluvioTopics(ENDPOINT).end_offset("t1") == 42
    cluster.client.consumer_with_config.return_value = consumer_iterator([])
    assert FluvioTopics(ENDPOINT).end_offset("t1") == 0


def test_reading_a_missing_topic(cluster: Cluster) -> None:
    with pytest.raises(TopicNotFoundError):
        FluvioTopics(ENDPOINT).read("t1")
    with pytest.raises(TopicNotFoundError):
        FluvioTopics(ENDPOINT).end_offset("t1")


def partition_consumer(stream: Any) -> fluvio.PartitionConsumer:
    """What ``Fluvio.partition_consumer`` returns: the real wrapper over a native consumer."""
    inner = create_autospec(_fluvio_python.PartitionConsumer, instance=True)

    def start(offset: Any) -> Any:
        assert isinstance(offset, fluvio.Offset)
        return stream

    inner.stream.side_effect = start
    return fluvio.PartitionConsumer(inner)


def test_follow_uses_a_partition_consumer_and_stops_when_idle(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]
    quiet = threading.Event()
    # A live stream: after two records nothing more arrives (next() blocks).
    stream = native_stream([raw_record(7, b"x"), raw_record(8, b"y")], then=lambda: quiet.wait(10) and None)
    cluster.client.partition_consumer.return_value = partition_consumer(stream)
    try:
        got = list(FluvioTopics(ENDPOINT).stream("t1", 7, timeout=0.3))
    finally:
        quiet.set()
    assert [(r.offset, r.value) for r in got] == [(7, b"x"), (8, b"y")]
    cluster.client.partition_consumer.assert_called_once_with("t1", 0)


def test_a_stream_error_is_a_backend_error(cluster: Cluster) -> None:
    cluster.topics[:] = ["t1"]

    def offline() -> None:
        raise fluvio.FluviorError("the SPU is offline")

    stream = native_stream([raw_record(0, b"x")], then=offline)
    cluster.client.partition_consumer.return_value = partition_consumer(stream)
    records = FluvioTopics(ENDPOINT).stream("t1")
    assert next(records).value == b"x"
    with pytest.raises(BackendError, match="reading t1 failed: the SPU is offline"):
        next(records)


def test_the_autospec_catches_a_wrong_call() -> None:
    """The guard this file relies on: a call the real client would refuse fails here too."""
    client = create_autospec(fluvio.Fluvio, instance=True)
    with pytest.raises(TypeError):
        client.partition_consumer("t1")  # the real method needs the partition too
