"""The fluvio backend's client session against ``create_autospec`` of the installed client.

What the backend does is shown against a real cluster (test_contract.py, test_fluvio_bounds.py).
Here the client's classes are replaced by autospecs (a wrong method name or argument count fails
as it would on the real client) to reach what a healthy cluster does not show on demand: a
stream that skips records, offsets with no record, refused writes, and the error texts the
backend maps. ``in_thread_helper`` runs the client session in a thread of the test process
instead of a helper process, so ``FluvioTopics`` (and what is built on it) can run against it.
"""

from __future__ import annotations

import inspect
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest.mock import create_autospec

import fluvio
import pytest

from fluvio_connectors.errors import BackendError, ConfigError, TopicNotFoundError
from fluvio_connectors.settings import Settings
from fluvio_connectors.topics import Record, open_topics
from fluvio_connectors.topics import fluvio_client as boundary
from fluvio_connectors.topics.fluvio import FluvioTopics
from fluvio_connectors.topics.fluvio_client import ClientError, Session

ENDPOINT = "127.0.0.1:9003"
STAMP_MS = 1_700_000_000_123


@dataclass
class FakePartition:
    """A partition as the client would stream it. ``holes``: offsets with no record at all.
    ``skip_after``/``skip``: a stream skips ``skip`` records after every ``skip_after`` it
    returned, as the real client does where a fetch cuts a batch."""

    records: dict[int, tuple[bytes | None, bytes]] = field(default_factory=dict)
    skip_after: int | None = None
    skip: int = 0
    streams: list[int] = field(default_factory=list)  # where each stream started

    def fill(self, count: int, holes: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        for offset in range(count):
            if offset not in holes:
                self.records[offset] = (None, f"v{offset}".encode())

    def end(self) -> int:
        return max(self.records, default=-1) + 1

    def stream(self, start: tuple[str, int]) -> Iterator[Any]:
        kind, n = start
        at = max(0, self.end() - n) if kind == "end" else n
        self.streams.append(at)
        returned = 0
        while at < self.end():
            if at in self.records:
                yield _record(at, *self.records[at])
                returned += 1
                if self.skip_after and returned % self.skip_after == 0:
                    at += self.skip
            at += 1


class _Record:
    """A record as the client streams it (``fluvio.Record``'s methods; checked below). Thousands
    are made per test, too many for autospecs."""

    def __init__(self, offset: int, key: bytes | None, value: bytes) -> None:
        self._offset, self._key, self._value = offset, key, value

    def offset(self) -> int:
        return self._offset

    def key(self) -> list[int]:
        return list(self._key if self._key is not None else b"No key")  # the client's lists of ints

    def value(self) -> list[int]:
        return list(self._value)

    def timestamp(self) -> int:
        return STAMP_MS


def _record(offset: int, key: bytes | None, value: bytes) -> Any:
    return _Record(offset, key, value)


def test_the_fake_record_has_the_real_records_methods() -> None:
    for name in ("offset", "key", "value", "timestamp"):
        assert list(inspect.signature(getattr(fluvio.Record, name)).parameters) == ["self"]


@dataclass
class FakeCluster:
    module: Any
    client: Any
    admin: Any
    topics: dict[str, FakePartition]
    producers: list[Any] = field(default_factory=list)


@pytest.fixture
def cluster() -> FakeCluster:
    client = create_autospec(fluvio.Fluvio, instance=True)
    admin = create_autospec(fluvio.FluvioAdmin, instance=True)
    client_cls = create_autospec(fluvio.Fluvio)
    client_cls.connect_with_config.return_value = client
    client_cls.connect.return_value = client
    admin_cls = create_autospec(fluvio.FluvioAdmin)
    # FluvioAdmin.connect* are plain functions called on the class, which autospec would take for
    # methods (swallowing `config` as self): spec the functions themselves.
    admin_cls.connect = create_autospec(fluvio.FluvioAdmin.__dict__["connect"], return_value=admin)
    admin_cls.connect_with_config = create_autospec(fluvio.FluvioAdmin.__dict__["connect_with_config"],
                                                    return_value=admin)
    module = SimpleNamespace(
        Fluvio=client_cls, FluvioAdmin=admin_cls, FluvioConfig=create_autospec(fluvio.FluvioConfig),
        TopicSpec=fluvio.TopicSpec, TopicProducerConfigBuilder=fluvio.TopicProducerConfigBuilder,
        ConsumerConfigExtBuilder=_builder,
        Offset=SimpleNamespace(absolute=lambda n: ("abs", n), from_end=lambda n: ("end", n),
                               beginning=lambda: ("abs", 0)),
    )
    state = FakeCluster(module, client, admin, topics={})

    def spec(name: str) -> Any:
        found = create_autospec(fluvio.MetadataTopicSpec, instance=True)
        found.name.return_value = name
        return found

    admin.all_topics.side_effect = lambda: [spec(n) for n in state.topics]
    admin.list_topics.side_effect = lambda names: [spec(n) for n in state.topics if n in names]

    def consumer(config: dict[str, Any]) -> Iterator[Any]:
        if config["topic"] not in state.topics:
            raise fluvio.FluviorError(f"Topic not found: {config['topic']}")
        if config["partition"] != 0:
            raise fluvio.FluviorError(f"Partition not found: {config['topic']}-{config['partition']}")
        return state.topics[config["topic"]].stream(config["start"])

    client.consumer_with_config.side_effect = consumer

    def producer(topic: str) -> Any:
        inner = create_autospec(fluvio.TopicProducer, instance=True)
        inner.send_all.side_effect = lambda records: [create_autospec(fluvio.ProduceOutput, instance=True)
                                                      for _ in records]
        state.producers.append(inner)
        return inner

    client.topic_producer.side_effect = producer
    return state


def _builder(topic: str) -> Any:
    """An autospec of ``ConsumerConfigExtBuilder`` whose ``build()`` says what it was told."""
    builder = create_autospec(fluvio.ConsumerConfigExtBuilder, instance=True)

    def build() -> dict[str, Any]:
        return {"topic": topic, "start": builder.offset_start.call_args.args[0],
                "partition": builder.partition.call_args.args[0]}

    builder.build.side_effect = build
    return builder


@pytest.fixture
def session(cluster: FakeCluster) -> Session:
    session = Session(cluster.module, ENDPOINT)
    session.handle("connect_admin", ())
    session.handle("connect_client", ())
    return session


# -- reading: skipped records and offsets with no record ------------------------------------------------


def test_a_read_restarts_where_the_clients_stream_skipped_records(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition(skip_after=40, skip=7)
    part.fill(100)
    rows, at_end = session.handle("read", ("t1", 0, 0, 1_000))
    assert [row[0] for row in rows] == list(range(100)) and at_end
    assert part.streams == [0, 40, 80]  # a new stream where each jump began


def test_offsets_with_no_record_are_passed_over_not_waited_for(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = part = FakePartition()
    part.fill(30, holes={5, 6, 7, 29})
    rows, at_end = session.handle("read", ("t1", 0, 3, 1_000))
    assert [row[0] for row in rows] == [3, 4, *range(8, 29)] and at_end
    assert part.streams == [3, 5]  # one look again at the hole, then on


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
    assert missing.value.kind == boundary.NOT_FOUND
    with pytest.raises(ClientError) as partition:
        session.handle("read", ("t1", 3, 0, 10))
    assert partition.value.kind == boundary.NO_PARTITION


# -- producing --------------------------------------------------------------------------------------


def test_flush_waits_for_every_record_and_reports_a_refused_one(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = FakePartition()
    producer_id = session.handle("producer_open", ("t1", 0))
    session.handle("produce", (producer_id, [(b"", b"a"), (b"k", b"b")]))
    [inner] = cluster.producers
    inner.send_all.assert_called_once_with([(b"", b"a"), (b"k", b"b")])
    session.handle("producer_flush", (producer_id,))
    inner.flush.assert_called_once_with()

    outputs = [create_autospec(fluvio.ProduceOutput, instance=True) for _ in range(3)]
    outputs[1].wait.side_effect = fluvio.FluviorError("the message is too large to send")
    inner.send_all.side_effect = None
    inner.send_all.return_value = outputs
    session.handle("produce", (producer_id, [(b"", b"x")] * 3))
    with pytest.raises(ClientError, match="the message is too large"):
        session.handle("producer_flush", (producer_id,))
    session.handle("producer_flush", (producer_id,))  # reported once; the caller sends again


def test_a_send_error_is_reported_by_the_next_flush(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = FakePartition()
    producer_id = session.handle("producer_open", ("t1", 0))
    cluster.producers[0].send_all.side_effect = fluvio.FluviorError("the SPU is offline")
    session.handle("produce", (producer_id, [(b"", b"a")]))
    with pytest.raises(ClientError, match="the SPU is offline"):
        session.handle("producer_flush", (producer_id,))


def test_a_producer_for_a_missing_topic(cluster: FakeCluster, session: Session) -> None:
    with pytest.raises(ClientError) as missing:
        session.handle("producer_open", ("nope", 0))
    assert missing.value.kind == boundary.NOT_FOUND
    cluster.client.topic_producer.assert_not_called()


def test_linger_uses_the_clients_producer_config(cluster: FakeCluster, session: Session) -> None:
    cluster.topics["t1"] = FakePartition()
    cluster.client.topic_producer_with_config.return_value = create_autospec(fluvio.TopicProducer, instance=True)
    session.handle("producer_open", ("t1", 5))
    topic, config = cluster.client.topic_producer_with_config.call_args.args
    assert topic == "t1" and isinstance(config, fluvio.TopicProducerConfig)


# -- the error texts of the client, mapped -----------------------------------------------------------


@pytest.mark.parametrize(("text", "kind"), [
    ("Topic already exists", boundary.EXISTS),
    ("Topic not found: t1", boundary.NOT_FOUND),
    ("Partition not found: t1-3", boundary.NO_PARTITION),
    ("Invalid topic name: topic name may only include lowercase letters", boundary.INVALID),
    ("Socket io Timed out: 60 secs waiting for response. API_KEY=1001", boundary.FAILED),
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


class _ThreadProcess:
    """What ``_Helper`` needs of a process, for a session served by a thread."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread

    def poll(self) -> int | None:
        return None if self.thread.is_alive() else 0

    def kill(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> int:
        self.thread.join(timeout)
        return 0


def in_thread_helper(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster) -> None:
    def start(endpoint: str | None) -> boundary._Helper:
        ours, theirs = socket.socketpair()

        def serve() -> None:
            with theirs:
                boundary.serve(theirs, Session(cluster.module, endpoint))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        return boundary._Helper(_ThreadProcess(thread), ours, tempfile.TemporaryFile())  # type: ignore[arg-type]

    monkeypatch.setattr(boundary._Helper, "start", staticmethod(start))


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


def test_a_producer_sends_once_a_batch_is_full_and_the_rest_at_flush(served: FakeCluster,
                                                                      wait_until: Callable[..., bool]) -> None:
    served.topics["t1"] = FakePartition()
    with FluvioTopics(ENDPOINT) as topics:
        producer = topics.producer("t1", batch_size=3)
        producer.send_many((None, b"x") for _ in range(2))
        producer.send_many((None, b"y") for _ in range(2))
        [inner] = served.producers
        assert wait_until(lambda: inner.send_all.call_count == 1)
        producer.send(None, b"z")
        producer.flush()
        assert [c.args[0] for c in inner.send_all.call_args_list] == [[(b"", b"x")] * 2 + [(b"", b"y")] * 2,
                                                                      [(b"", b"z")]]
        producer.close()


# -- FluvioTopics' own checks, before any call ------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["", "  ", "host :9003"])
def test_a_malformed_endpoint_is_a_config_error(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="the Fluvio endpoint must be host:port"):
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
