"""The boundary around the ``fluvio`` client: the only module that imports it, and where every
wait on it is bounded.

Why a helper process: the client (fluvio 0.21, PyO3) holds the GIL while many of its calls
block (every admin call, ``FluvioAdmin.connect*``, a sync stream's ``next``, ``ProduceOutput.wait``),
so a call that waits for a silent or stopped server freezes every thread of the calling process,
timers and watchdogs included; ``FluvioAdmin.connect`` to a peer that accepts and never answers
waits forever. So the calling process never runs client code. ``FluvioClient`` starts one helper
process (``python -m fluvio_connectors.topics.fluvio_client``) on first use, and every call is a
request on a socket that the caller waits for with a deadline it chose. A request that misses its
deadline kills the helper (SIGKILL: it may be stuck inside the client holding its own GIL) and
raises ``BackendError``; the next call starts a fresh one (``generation`` counts them).

The helper runs one request at a time, with the client's sync API only: nothing in it waits for
the GIL while another call holds it. It dies with its parent (``PR_SET_PDEATHSIG``).

Requests are ``(op, args, reply)`` tuples, replies ``("ok", value)`` or ``("error", kind,
message)``; frames are a 4-byte length and a pickle (both ends are this module). ``produce`` is
posted without a reply: its errors come back at the producer's next ``producer_flush``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import IO, Any

from fluvio_connectors.errors import BackendError

# Error kinds a failed request reports (from the client's own messages).
EXISTS, NOT_FOUND, NO_PARTITION, INVALID, FAILED = "exists", "not_found", "no_partition", "invalid", "failed"

# The fetch size of reads: the client skips the rest of a batch cut by a fetch boundary (records
# it never returns although they are stored); reads restart at such a gap, and a large fetch
# makes gaps rare.
READ_MAX_BYTES = 16 * 1024 * 1024
# A read's reply ends after this many bytes of values (and at its record limit).
READ_REPLY_BYTES = 8 * 1024 * 1024
_NO_KEYS = (b"", b"No key")  # how the client returns a record without a key, and what it writes for one
_HEADER = struct.Struct("!I")
_REAP_TIMEOUT = 5.0
_MODULE = "fluvio_connectors.topics.fluvio_client"
# The folder holding ``fluvio_connectors``: the helper imports this very code, installed or not.
_CODE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ClientError(BackendError):
    """The client refused a request; ``kind`` says how (``exists``, ``not_found``, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Timeout(Exception):
    pass


class _Gone(Exception):
    pass


# ------------------------------------------------------------------------------------ caller side


class FluvioClient:
    """The helper process of one topics backend, started on first use.

    ``call(op, *args)`` waits at most ``timeout`` seconds (the constructor's ``timeout`` unless
    given); the connections it needs are made first, within ``connect_timeout`` (the helper's
    start included). Thread-safe: requests from several threads take turns.
    """

    def __init__(self, endpoint: str | None, *, connect_timeout: float, timeout: float, where: str) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.where = where
        self.generation = 0
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._helper: _Helper | None = None

    def call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        bound = self.timeout if timeout is None else timeout
        with self._turn(bound, op) as helper:
            for need in _NEEDS.get(op, ()):
                if need not in helper.connected:
                    self._request(helper, (f"connect_{need}", (), True), self.connect_timeout, None)
                    helper.connected.add(need)
            return self._request(helper, (op, args, True), bound, op)

    def post(self, op: str, *args: Any) -> int:
        """Send a request that gets no reply; returns the helper's generation."""
        with self._turn(self.timeout, op) as helper:
            try:
                helper.send((op, args, False), time.monotonic() + self.timeout)
            except (_Timeout, _Gone) as exc:
                self._fail(helper, op, exc, self.timeout)
            return self.generation

    def close(self) -> None:
        """Stop the helper (its connections close with it); a later call starts a new one."""
        if os.getpid() != self._pid:
            return
        with self._lock:
            helper, self._helper = self._helper, None
        if helper is not None:
            helper.stop()

    @contextlib.contextmanager
    def _turn(self, timeout: float, op: str) -> Any:
        if os.getpid() != self._pid:  # a forked child never shares its parent's helper
            self._pid, self._lock, self._helper = os.getpid(), threading.Lock(), None
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            raise BackendError(f"{self.where}: {_describe(op)}: the client was busy for {timeout:g} s")
        try:
            helper = self._helper
            if helper is None or not helper.alive():
                if helper is not None:
                    helper.stop()
                helper = self._start()
            yield helper
        finally:
            self._lock.release()

    def _start(self) -> _Helper:
        self.generation += 1
        try:
            helper = _Helper.start(self.endpoint)
        except OSError as exc:
            raise BackendError(f"{self.where}: cannot start the client process: {exc}") from None
        weakref.finalize(self, helper.stop)  # an object never closed does not leave its helper behind
        self._helper = helper
        return helper

    def _request(self, helper: _Helper, request: tuple[str, tuple[Any, ...], bool], timeout: float,
                 op: str | None) -> Any:
        deadline = time.monotonic() + timeout
        try:
            helper.send(request, deadline)
            reply = helper.receive(deadline)
        except (_Timeout, _Gone) as exc:
            self._fail(helper, op, exc, timeout)
        except BaseException:  # e.g. KeyboardInterrupt mid-frame: the next call needs a new helper
            helper.broken = True
            raise
        if reply[0] == "ok":
            return reply[1]
        kind, message = reply[1], reply[2]
        if op is None:
            raise BackendError(f"cannot connect to {self.where}: {message}")
        raise ClientError(kind, message)

    def _fail(self, helper: _Helper, op: str | None, exc: Exception, timeout: float) -> Any:
        """The helper missed a deadline or died: stop it and say so in one line."""
        self._helper = None
        what = f"cannot connect to {self.where}" if op is None else f"{self.where}: {_describe(op)} failed"
        if isinstance(exc, _Timeout):
            helper.stop()
            raise BackendError(f"{what}: no answer within {timeout:g} s") from None
        reason = helper.exit_reason()
        helper.stop()
        raise BackendError(f"{what}: the client process ended ({reason})") from None


def _describe(op: str) -> str:
    return op.replace("_", " ")


class _Helper:
    """One helper process and our end of its socket."""

    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket, errors: IO[bytes]) -> None:
        self.process = process
        self.sock = sock
        self.errors = errors
        self.connected: set[str] = set()
        self.broken = False

    @classmethod
    def start(cls, endpoint: str | None) -> _Helper:
        ours, theirs = socket.socketpair()
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - the helper's stderr, closed in stop()
        try:
            argv = [sys.executable, "-m", _MODULE, str(theirs.fileno()), str(os.getpid()), endpoint or ""]
            process = _spawn(argv, theirs.fileno(), errors)
        except BaseException:
            ours.close()
            errors.close()
            raise
        finally:
            theirs.close()
        return cls(process, ours, errors)

    def alive(self) -> bool:
        return not self.broken and self.process.poll() is None

    def send(self, request: tuple[str, tuple[Any, ...], bool], deadline: float) -> None:
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self._io(deadline, self.sock.sendall, _HEADER.pack(len(data)) + data)

    def receive(self, deadline: float) -> tuple[Any, ...]:
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        reply: tuple[Any, ...] = pickle.loads(self._read(size, deadline))
        return reply

    def _read(self, size: int, deadline: float) -> bytes:
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size:
            count = self._io(deadline, self.sock.recv_into, view[got:])
            if not count:
                self.broken = True
                raise _Gone()
            got += count
        return bytes(buffer)

    def _io(self, deadline: float, operation: Callable[..., Any], *args: Any) -> Any:
        """``operation`` on the socket, within ``deadline``; a half-done frame breaks the helper."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.broken = True
            raise _Timeout()
        self.sock.settimeout(remaining)
        try:
            return operation(*args)
        except TimeoutError:
            self.broken = True
            raise _Timeout() from None
        except OSError:
            self.broken = True
            raise _Gone() from None

    def stop(self) -> None:
        """SIGKILL (it may hold its GIL inside the client), reap, close. Idempotent."""
        self.broken = True
        with contextlib.suppress(OSError):
            self.process.kill()
        self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=_REAP_TIMEOUT)
        self.errors.close()

    def exit_reason(self) -> str:
        """How the process ended (it closed its end of the socket: it is ending or has ended)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1.0)
        code = self.process.poll()
        if code is None:
            reason = "it stopped answering"
        elif code < 0:
            reason = f"killed by {signal.Signals(-code).name}"
        else:
            reason = f"exit code {code}"
        last = self._last_error_line()
        return f"{reason}: {last}" if last else reason

    def _last_error_line(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.errors.seek(0, os.SEEK_END)
            size = self.errors.tell()
            self.errors.seek(max(0, size - 2000))
            lines = [line.strip() for line in self.errors.read().decode(errors="replace").splitlines()]
            return next((line for line in reversed(lines) if line), "")
        return ""


# Helpers are started from one long-lived thread: PR_SET_PDEATHSIG fires when the *thread* that
# started a child ends, and callers may be short-lived threads (asyncio.to_thread, a timeout probe).
_spawner_lock = threading.Lock()
_spawner: tuple[int, queue.Queue[Any]] | None = None


def _spawn(argv: list[str], fd: int, errors: IO[bytes]) -> subprocess.Popen[bytes]:
    global _spawner
    with _spawner_lock:
        if _spawner is None or _spawner[0] != os.getpid():
            jobs: queue.Queue[Any] = queue.Queue()
            threading.Thread(target=_spawn_loop, args=(jobs,), name="fluvio-client-spawner", daemon=True).start()
            _spawner = (os.getpid(), jobs)
        jobs = _spawner[1]
    done: queue.Queue[Any] = queue.Queue(maxsize=1)
    jobs.put((argv, fd, errors, done))
    ok, result = done.get()
    if not ok:
        raise result
    return result  # type: ignore[no-any-return]


def _spawn_loop(jobs: queue.Queue[Any]) -> None:
    while True:
        argv, fd, errors, done = jobs.get()
        try:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [_CODE_ROOT, env.get("PYTHONPATH")]))
            process = subprocess.Popen(
                argv, pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                env=env, start_new_session=True,  # a Ctrl-C in the terminal is the caller's to handle
            )
            done.put((True, process))
        except BaseException as exc:
            done.put((False, exc))


# ------------------------------------------------------------------------------------ helper side

# The connections each request needs, made first within ``connect_timeout``.
_NEEDS: dict[str, tuple[str, ...]] = {
    "create_topic": ("admin",),
    "delete_topic": ("admin",),
    "topic_names": ("admin",),
    "producer_open": ("admin", "client"),
    "read": ("admin", "client"),
    "last_offset": ("admin", "client"),
}


class Session:
    """What the helper process holds: the connections and the open producers.

    Each ``op_*`` method is one request. Built with the ``fluvio`` module, so a test can give it
    another implementation of the client's API.
    """

    def __init__(self, client_module: Any, endpoint: str | None) -> None:
        self.fluvio = client_module
        self.endpoint = endpoint
        self.admin: Any = None
        self.client: Any = None
        self.producers: dict[int, _ProducerState] = {}
        self._next_id = 0

    def handle(self, op: str, args: tuple[Any, ...]) -> Any:
        method = getattr(self, f"op_{op}", None)
        if method is None:
            raise ClientError(FAILED, f"unknown request {op!r}")
        try:
            return method(*args)
        except Exception as exc:
            raise _client_error(exc) from None

    def _config(self) -> Any:
        return self.fluvio.FluvioConfig.new(self.endpoint)

    def op_connect_admin(self) -> None:
        cls = self.fluvio.FluvioAdmin
        self.admin = cls.connect() if self.endpoint is None else cls.connect_with_config(self._config())

    def op_connect_client(self) -> None:
        cls = self.fluvio.Fluvio
        self.client = cls.connect() if self.endpoint is None else cls.connect_with_config(self._config())

    # -- admin

    def op_create_topic(self, name: str, partitions: int) -> None:
        spec = self.fluvio.TopicSpec.create().with_partitions(partitions).build()
        self.admin.create_topic(name, spec)

    def op_delete_topic(self, name: str) -> None:
        self.admin.delete_topic(name)

    def op_topic_names(self, names: list[str] | None) -> list[str]:
        found = self.admin.all_topics() if names is None else self.admin.list_topics(names)
        return [spec.name() for spec in found]

    def _require_topic(self, topic: str) -> None:
        if not any(spec.name() == topic for spec in self.admin.list_topics([topic])):
            raise ClientError(NOT_FOUND, f"Topic not found: {topic}")

    # -- producing

    def op_producer_open(self, topic: str, linger_ms: float) -> int:
        self._require_topic(topic)
        if linger_ms > 0:
            config = self.fluvio.TopicProducerConfigBuilder().linger(max(1, int(linger_ms))).build()
            producer = self.client.topic_producer_with_config(topic, config)
        else:
            producer = self.client.topic_producer(topic)
        self._next_id += 1
        self.producers[self._next_id] = _ProducerState(producer, getattr(self.fluvio, "_ProducerBatchRecord", None))
        return self._next_id

    def op_produce(self, producer_id: int, records: list[tuple[bytes, bytes]]) -> None:
        state = self.producers.get(producer_id)
        if state is None or state.error is not None:
            return  # the error (or the unknown producer) is reported by the next flush
        try:
            state.outputs.extend(state.send_all(records))
        except Exception as exc:
            state.error = _first_line(exc)

    def op_producer_flush(self, producer_id: int) -> None:
        state = self.producers.get(producer_id)
        if state is None:
            raise ClientError(FAILED, "the producer is gone (the client process was restarted)")
        outputs, state.outputs = state.outputs, []
        error, state.error = state.error, None
        if error is None:
            try:
                state.producer.flush()
            except Exception as exc:
                error = _first_line(exc)
        if error is None:
            # After a flush every result is in: ``wait`` returns at once, no network wait.
            for output in outputs:
                try:
                    output.wait()
                except Exception as exc:
                    error = _first_line(exc)
                    break
        if error is not None:
            raise ClientError(_kind(error), error)

    def op_producer_close(self, producer_id: int) -> None:
        try:
            self.op_producer_flush(producer_id)
        finally:
            self.producers.pop(producer_id, None)

    # -- reading

    def _stream(self, topic: str, partition: int, start: Any) -> Any:
        builder = self.fluvio.ConsumerConfigExtBuilder(topic)
        builder.partition(partition)
        builder.offset_start(start)
        builder.disable_continuous(True)
        builder.max_bytes(READ_MAX_BYTES)
        return self.client.consumer_with_config(builder.build())

    def op_read(self, topic: str, partition: int, offset: int, limit: int) -> tuple[list[Any], bool]:
        """Up to ``limit`` records (and about ``READ_REPLY_BYTES``) from ``offset`` to the
        partition's end as it is now, and whether the end was reached. Records come as
        ``(offset, key, value, timestamp)``: the key ``None`` for the client's ``No key`` marker
        (a record without one) and for an empty key (what it writes for none); the timestamp in
        seconds (0.0 for none).

        The client's stream can skip records where a fetch cut a batch (they are stored, and a new
        stream from there returns them). So a jump in the offsets ends the stream and a new one
        starts where the jump began; a jump at a stream's first record is a real gap."""
        records: list[Any] = []
        size = 0
        while True:
            first = True
            for item in _items(self._stream(topic, partition, self.fluvio.Offset.absolute(offset))):
                at = item.offset()
                if at < offset:
                    continue
                if at != offset and not first:
                    break  # skipped records: read again from ``offset``
                first = False
                value = bytes(item.value())
                key = bytes(item.key())
                stamp = item.timestamp()
                records.append((at, None if key in _NO_KEYS else key, value, stamp / 1000.0 if stamp >= 0 else 0.0))
                offset = at + 1
                size += len(value)
                if len(records) >= limit or size >= READ_REPLY_BYTES:
                    return records, False
            else:
                return records, True

    def op_last_offset(self, topic: str, partition: int) -> int | None:
        """The offset of the last record (``None`` if there is none), looking further back while
        the last offsets hold no readable record."""
        back = 1
        while True:
            last = None
            for item in _items(self._stream(topic, partition, self.fluvio.Offset.from_end(back))):
                last = item.offset()
            if last is not None:
                return int(last)
            if next(iter(self._stream(topic, partition, self.fluvio.Offset.beginning())), None) is None:
                return None
            back *= 16  # records exist, none in the last ``back`` offsets


class _ProducerState:
    """An open producer, the results of the records sent since its last flush, its first error.

    ``send_all`` goes through the client's native producer when the client exposes it (fluvio
    0.21: ``TopicProducer._inner`` and ``_ProducerBatchRecord``): the public wrapper only adds a
    Python object per record on the way in and per result on the way out, a fifth of the cost.
    """

    __slots__ = ("error", "native", "outputs", "producer", "record")

    def __init__(self, producer: Any, record: Any) -> None:
        self.producer = producer
        native = getattr(producer, "_inner", None)
        self.native = native if record is not None and hasattr(native, "send_all") else None
        self.record = record
        self.outputs: list[Any] = []
        self.error: str | None = None

    def send_all(self, records: list[tuple[bytes, bytes]]) -> list[Any]:
        if self.native is None:
            return list(self.producer.send_all(records))
        make = self.record
        return list(self.native.send_all([make(key, value) for key, value in records]))


def _items(stream: Any) -> Iterator[Any]:
    """The records of a consumer stream, from the client's native stream when it is exposed
    (``ConsumerIterator.stream``; its records answer the same calls, without a wrapper each)."""
    native = getattr(stream, "stream", None)
    if native is None or not hasattr(native, "next"):
        yield from stream
        return
    while (item := native.next()) is not None:
        yield item


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _client_error(exc: Exception) -> ClientError:
    if isinstance(exc, ClientError):
        return exc
    message = _first_line(exc)
    return ClientError(_kind(message), message)


def _kind(message: str) -> str:
    text = message.lower()
    if "already exists" in text:
        return EXISTS
    if "partition not found" in text:
        return NO_PARTITION
    if "not found" in text:
        return NOT_FOUND
    if "invalid" in text:
        return INVALID
    return FAILED


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the thread that started it ends."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent was already gone
        os._exit(0)


def serve(sock: socket.socket, session: Session) -> None:
    """Answer requests until the caller closes the socket."""
    reader = sock.makefile("rb")
    while True:
        header = reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(header)
        op, args, reply = pickle.loads(reader.read(size))
        try:
            answer: tuple[Any, ...] = ("ok", session.handle(op, args))
        except ClientError as exc:
            answer = ("error", exc.kind, str(exc))
        except BaseException as exc:  # a Rust panic arrives as a BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            message = _first_line(exc)
            answer = ("error", _kind(message), message)
        if reply:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            sock.sendall(_HEADER.pack(len(data)) + data)


def main(argv: list[str]) -> None:
    fd, parent, endpoint = int(argv[0]), int(argv[1]), argv[2] or None
    _die_with_parent(parent)
    import fluvio

    with socket.socket(fileno=fd) as sock:
        serve(sock, Session(fluvio, endpoint))


if __name__ == "__main__":
    main(sys.argv[1:])
