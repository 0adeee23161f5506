"""The boundary around the ``fluvio`` client: the only code that calls it, in a helper process
(``python -m fluvio_connectors.topics.fluvio_client``), and where every wait on it is bounded.

``FluvioClient.call(op, *args)`` waits at most its timeout (``connect_timeout`` for the helper's
start and the connections); a request that misses its deadline kills the helper and raises
``BackendError`` in one line, and the next call starts a fresh one (``generation`` counts them).
Why a process, and what each module of this package does: docs/architecture.md, *The Fluvio
client boundary*.

Requests are ``(op, args, reply)`` tuples, replies ``("ok", value)`` or ``("error", kind,
message)``; ``produce`` is posted without a reply: its errors come back at the producer's next
``producer_flush``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from typing import Any

from fluvio_connectors.errors import BackendError
from fluvio_connectors.topics.fluvio_client.process import Gone, HelperProcess, Timeout
from fluvio_connectors.topics.fluvio_client.session import (
    EXISTS,
    FAILED,
    INVALID,
    NEEDS,
    NO_PARTITION,
    NOT_FOUND,
    REFUSED,
    ClientError,
)


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
        self._helper: HelperProcess | None = None

    def call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        bound = self.timeout if timeout is None else timeout
        with self._turn(bound, op) as helper:
            for need in NEEDS.get(op, ()):
                if need not in helper.connected:
                    self._request(helper, (f"connect_{need}", (), True), self.connect_timeout, None)
                    helper.connected.add(need)
            return self._request(helper, (op, args, True), bound, op)

    def post(self, op: str, *args: Any) -> int:
        """Send a request that gets no reply; returns the helper's generation."""
        with self._turn(self.timeout, op) as helper:
            try:
                helper.send((op, args, False), time.monotonic() + self.timeout)
            except (Timeout, Gone) as exc:
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

    def _start(self) -> HelperProcess:
        self.generation += 1
        try:
            helper = HelperProcess.start(self.endpoint)
        except OSError as exc:
            raise BackendError(f"{self.where}: cannot start the client process: {exc}") from None
        weakref.finalize(self, helper.stop)  # an object never closed does not leave its helper behind
        self._helper = helper
        return helper

    def _request(self, helper: HelperProcess, request: tuple[str, tuple[Any, ...], bool], timeout: float,
                 op: str | None) -> Any:
        deadline = time.monotonic() + timeout
        try:
            helper.send(request, deadline)
            reply = helper.receive(deadline)
        except (Timeout, Gone) as exc:
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

    def _fail(self, helper: HelperProcess, op: str | None, exc: Exception, timeout: float) -> Any:
        """The helper missed a deadline or died: stop it and say so in one line."""
        self._helper = None
        what = f"cannot connect to {self.where}" if op is None else f"{self.where}: {_describe(op)} failed"
        if isinstance(exc, Timeout):
            helper.stop()
            raise BackendError(f"{what}: no answer within {timeout:g} s") from None
        reason = helper.exit_reason()
        helper.stop()
        raise BackendError(f"{what}: the client process ended ({reason})") from None


def _describe(op: str) -> str:
    return op.replace("_", " ")


__all__ = ["EXISTS", "FAILED", "INVALID", "NOT_FOUND", "NO_PARTITION", "REFUSED", "ClientError", "FluvioClient"]
