"""No call into the Fluvio client freezes the calling process, and each ends within its bound.

A counter thread runs beside every call: it must keep counting while the call waits (the client
holds the GIL while it blocks, so a call made in this process would stop it). The attacks: a
socket that accepts and never answers, and the real cluster's SC or SPU stopped with SIGSTOP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fluvio_cluster import FluvioCluster

from fluvio_connectors.errors import BackendError, FluvioConnectorError
from fluvio_connectors.topics.fluvio import FluvioTopics


class Counter:
    """A thread that counts while it gets to run."""

    def __init__(self) -> None:
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.count += 1

    def __enter__(self) -> Counter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def runs_beside(min_ticks: int = 20) -> Iterator[Counter]:
    """The block runs while a counter thread must advance by ``min_ticks`` (0.1 s of its time)."""
    with Counter() as counter:
        yield counter
        before = counter.count
    assert before >= min_ticks, f"the counter thread advanced only {before} times: the process was frozen"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An address that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


def one_line_failure(call: Callable[[], Any], *, within: float) -> str:
    """Run ``call``; it must fail with one line (a FluvioConnectorError) within ``within`` s."""
    started = time.monotonic()
    with pytest.raises(FluvioConnectorError) as failure:
        result = call()
        if hasattr(result, "__next__"):
            next(result)
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert "\n" not in message
    assert elapsed < within, f"took {elapsed:.1f}s: {message}"
    return message


# -- a peer that accepts and never answers ----------------------------------------------------------


ARGS: dict[str, tuple[Any, ...]] = {"list_topics": (), "list_consumers": (), "consumer_position": ("c", "t1"),
                                    "commit": ("c", "t1", 0), "delete_consumer": ("c",)}


@pytest.mark.parametrize("operation", ["list_topics", "create_topic", "topic_exists", "delete_topic", "producer",
                                       "read", "end_offset", "stream", "consumer_position", "commit", "list_consumers",
                                       "delete_consumer"])
def test_a_silent_endpoint_fails_within_connect_timeout_and_the_process_runs_on(
    silent_endpoint: str, operation: str
) -> None:
    topics = FluvioTopics(silent_endpoint, connect_timeout=2, timeout=2)
    call = getattr(topics, operation)
    args = ARGS.get(operation, ("t1",))
    with runs_beside():
        message = one_line_failure(lambda: call(*args), within=2 + 8)  # 2 s, plus a loaded machine's slack
    assert message == f"cannot connect to Fluvio at {silent_endpoint}: no answer within 2 s"
    topics.close()


def test_the_event_loop_keeps_running_while_a_call_waits_in_a_thread(silent_endpoint: str) -> None:
    """As a trigger calls the backend: through asyncio.to_thread, the loop is never blocked."""

    async def main() -> tuple[int, str]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        topics = FluvioTopics(silent_endpoint, connect_timeout=2)
        try:
            await asyncio.to_thread(topics.list_topics)
        except BackendError as exc:
            message = str(exc)
        ticker.cancel()
        return ticks, message

    ticks, message = asyncio.run(main())
    assert "no answer within 2 s" in message
    assert ticks >= 20


def test_a_closed_port_fails_at_once_with_the_clients_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = one_line_failure(lambda: FluvioTopics(f"127.0.0.1:{port}", connect_timeout=10).list_topics(), within=10)
    assert message.startswith(f"cannot connect to Fluvio at 127.0.0.1:{port}: ")
    assert "no answer" not in message


def test_the_client_process_ends_with_the_process_that_started_it(silent_endpoint: str) -> None:
    program = (
        "import sys, threading\n"
        "from fluvio_connectors.topics.fluvio import FluvioTopics\n"
        "topics = FluvioTopics(sys.argv[1], connect_timeout=300)\n"
        "threading.Thread(target=topics.list_topics, daemon=True).start()\n"
        "import time\n"
        "while topics._client._helper is None: time.sleep(0.01)\n"
        "print(topics._client._helper.process.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", program, silent_endpoint], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    helper = int(parent.stdout.readline())
    assert _alive(helper)
    parent.kill()
    parent.wait(timeout=10)
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(helper), "the client process outlived its parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- the real cluster -------------------------------------------------------------------------------


@pytest.fixture
def cluster(fluvio_cluster: FluvioCluster) -> FluvioCluster:
    return fluvio_cluster


@pytest.fixture
def topic(cluster: FluvioCluster) -> str:
    name = f"bounds-{uuid.uuid4().hex[:8]}"
    with FluvioTopics(cluster.endpoint) as topics:
        topics.create_topic(name)
    return name


def test_following_a_topic_while_another_thread_of_the_process_produces(cluster: FluvioCluster, topic: str) -> None:
    """The process stays alive while a stream waits: the writer thread gets to write."""
    topics = FluvioTopics(cluster.endpoint)

    def produce_later() -> None:
        with topics.producer(topic) as producer:
            producer.send(None, b"late")

    writer = threading.Timer(0.5, produce_later)
    with runs_beside():
        writer.start()
        got = [r.value for r in topics.stream(topic, 0, timeout=10)]
        writer.join()
    assert got == [b"late"]
    assert topics.list_topics()  # and the next call answers at once
    topics.close()


@contextlib.contextmanager
def stopped(cluster: FluvioCluster, server: str) -> Iterator[None]:
    if not cluster.server_pids:
        pytest.skip("stopping a server needs the test run's own cluster (not FLUVIO_ENDPOINT's)")
    pid = cluster.server_pids[server]
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_stopped_sc_fails_calls_within_their_timeout_then_the_cluster_is_used_again(
    cluster: FluvioCluster, topic: str
) -> None:
    topics = FluvioTopics(cluster.endpoint, connect_timeout=3, timeout=3)
    assert topic in topics.list_topics()
    with stopped(cluster, "sc"), runs_beside():
        message = one_line_failure(topics.list_topics, within=3 + 8)
        assert message == f"Fluvio at {cluster.endpoint}: topic names failed: no answer within 3 s"
        one_line_failure(topics.list_topics, within=3 + 8)  # a fresh client process, same bound
    assert _eventually(lambda: topic in topics.list_topics())
    topics.close()


def test_a_stopped_spu_fails_writes_and_reads_within_their_timeout_and_nothing_is_lost(
    cluster: FluvioCluster, topic: str
) -> None:
    topics = FluvioTopics(cluster.endpoint, connect_timeout=3, timeout=3)
    producer = topics.producer(topic)
    producer.send_many((None, f"before-{i}".encode()) for i in range(100))
    producer.flush()
    with stopped(cluster, "spu"), runs_beside():
        producer.send_many((None, f"during-{i}".encode()) for i in range(100))
        one_line_failure(producer.flush, within=3 + 8)
        one_line_failure(lambda: topics.read(topic), within=3 + 8)
    assert _eventually(lambda: _flushed(producer))  # the records kept since the failed flush go again
    producer.close()
    got = [r.value.decode() for r in topics.read(topic)]
    expected = [f"before-{i}" for i in range(100)] + [f"during-{i}" for i in range(100)]
    assert set(got) == set(expected)  # at-least-once: a retried record may be there twice
    assert [v for v in got if v.startswith("before-")] == expected[:100]
    topics.close()


def _flushed(producer: Any) -> bool:
    try:
        producer.flush()
        return True
    except FluvioConnectorError:
        return False


def _eventually(condition: Callable[[], bool], timeout: float = 60) -> bool:
    """True once ``condition`` holds (errors while the cluster recovers count as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FluvioConnectorError):
            if condition():
                return True
        time.sleep(0.2)
    return False


def test_a_client_process_that_dies_is_reported_in_one_line_and_replaced(silent_endpoint: str) -> None:
    topics = FluvioTopics(silent_endpoint, connect_timeout=5)
    failure: list[BaseException] = []
    caller = threading.Thread(target=lambda: _capture(topics.list_topics, failure))
    caller.start()
    deadline = time.monotonic() + 30
    while topics._client._helper is None and time.monotonic() < deadline:
        time.sleep(0.01)
    helper = topics._client._helper
    assert helper is not None
    helper.process.kill()  # as the OOM killer would
    caller.join(timeout=30)
    [error] = failure
    assert str(error) == f"cannot connect to Fluvio at {silent_endpoint}: the client process ended (killed by SIGKILL)"
    with pytest.raises(BackendError, match="no answer within 5 s"):  # the next call: a new one
        topics.list_topics()
    assert topics._client.generation == 2
    topics.close()


def _capture(call: Callable[[], Any], into: list[BaseException]) -> None:
    try:
        call()
    except BaseException as exc:
        into.append(exc)
