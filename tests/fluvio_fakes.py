"""Fakes of the ``fluvio`` client for unit tests, built from ``create_autospec`` of the installed
client's classes, and a way to serve them to ``FluvioTopics`` without a helper process.

``FakePartition`` streams records as the real client does, including what a healthy cluster does
not show on demand: offsets with no record (``holes``) and a stream that skips the records of a
batch cut by a fetch (``skip_after``/``skip``). Consumer offsets behave as measured on a real
cluster (fluvio_client/offsets.py): a stream of a consumer commits the offset of the last record it
yielded, stored at ``offset_flush``. ``fake_cluster()`` builds the client module;
``in_thread_helper(monkeypatch, cluster)`` makes every ``FluvioTopics`` of the test talk to a
client session served by a thread of the test process.
"""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest.mock import create_autospec

import fluvio
import pytest

from fluvio_connectors.topics.fluvio_client import process, session
from fluvio_connectors.topics.fluvio_client.session import Session

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

    def fill(self, count: int, holes: set[int] = frozenset(), start: int = 0) -> None:  # type: ignore[assignment]
        """Records ``v{offset}`` at ``start`` .. ``count - 1`` but ``holes`` (safe while a stream reads)."""
        added = {offset: (None, f"v{offset}".encode()) for offset in range(start, count) if offset not in holes}
        self.records = {**self.records, **added}

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


@dataclass
class FakeCluster:
    module: Any
    client: Any
    admin: Any
    topics: dict[str, FakePartition]
    producers: list[Any] = field(default_factory=list)
    # (consumer, topic, partition) -> stored offset: the cluster's consumer offsets
    offsets: dict[tuple[str, str, int], int] = field(default_factory=dict)


class _ConsumerStream:
    """A stream as ``consumer_with_config`` returns it (``ConsumerIterator``: iteration, and the
    commit of the last record yielded for a stream of a named consumer)."""

    def __init__(self, cluster: FakeCluster, config: dict[str, Any], records: Iterator[Any]) -> None:
        self.cluster, self.config, self.records = cluster, config, records
        self.last: int | None = None
        self.committed: int | None = None

    def __iter__(self) -> _ConsumerStream:
        return self

    def __next__(self) -> Any:
        record = next(self.records)
        self.last = record.offset()
        return record

    def offset_commit(self) -> None:
        self.committed = self.last

    def offset_flush(self) -> None:
        if self.config.get("consumer") is not None and self.committed is not None:
            self.cluster.offsets[(self.config["consumer"], self.config["topic"], self.config["partition"])] = self.committed


def fake_cluster() -> FakeCluster:
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
        ConsumerConfigExtBuilder=_builder, OffsetManagementStrategy=fluvio.OffsetManagementStrategy,
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

    def consumer(config: dict[str, Any]) -> Any:
        if config["topic"] not in state.topics:
            raise fluvio.FluviorError(f"Topic not found: {config['topic']}")
        if config["partition"] != 0:
            raise fluvio.FluviorError(f"Partition not found: {config['topic']}-{config['partition']}")
        return _ConsumerStream(state, config, state.topics[config["topic"]].stream(config["start"]))

    client.consumer_with_config.side_effect = consumer

    def offsets() -> list[Any]:
        return [SimpleNamespace(consumer_id=c, topic=t, partition=p, offset=o, modified_time=STAMP_MS // 1000)
                for (c, t, p), o in state.offsets.items()]

    client.consumer_offsets.side_effect = offsets
    client.delete_consumer_offset.side_effect = lambda c, t, p: state.offsets.pop((c, t, p), None)
    admin.create_topic.side_effect = lambda name, spec: state.topics.setdefault(name, FakePartition())

    def producer(topic: str) -> Any:
        inner = create_autospec(fluvio.TopicProducer, instance=True)
        inner.send_all.side_effect = lambda records: [create_autospec(fluvio.ProduceOutput, instance=True)
                                                      for _ in records]

        def send(key: bytes, value: bytes) -> Any:  # stored at once (a record-by-record producer)
            partition = state.topics[topic]
            partition.records = {**partition.records, partition.end(): (key or None, value)}
            return create_autospec(fluvio.ProduceOutput, instance=True)

        inner.send.side_effect = send
        state.producers.append(inner)
        return inner

    client.topic_producer.side_effect = producer
    return state


def _builder(topic: str) -> Any:
    """An autospec of ``ConsumerConfigExtBuilder`` whose ``build()`` says what it was told."""
    builder = create_autospec(fluvio.ConsumerConfigExtBuilder, instance=True)

    def build() -> dict[str, Any]:
        named = builder.offset_consumer.call_args
        return {"topic": topic, "start": builder.offset_start.call_args.args[0],
                "partition": builder.partition.call_args.args[0], "consumer": named.args[0] if named else None}

    builder.build.side_effect = build
    return builder


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
    """Every ``FluvioTopics`` of the test talks to a session on ``cluster``, served by a thread."""
    def start(endpoint: str | None) -> process.HelperProcess:
        ours, theirs = socket.socketpair()

        def serve() -> None:
            with theirs:
                session.serve(theirs, Session(cluster.module, endpoint))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        return process.HelperProcess(_ThreadProcess(thread), ours, tempfile.TemporaryFile())  # type: ignore[arg-type]

    monkeypatch.setattr(process.HelperProcess, "start", staticmethod(start))


