"""The helper process and the socket frames, seen from the caller: start it (from one long-lived
thread), send a request and read a reply within a deadline, stop it.

A frame is a 4-byte length and a pickle (both ends are this package's code).
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
from collections.abc import Callable
from typing import IO, Any

HEADER = struct.Struct("!I")
_REAP_TIMEOUT = 5.0
_MODULE = "fluvio_connectors.topics.fluvio_client"
# The folder holding ``fluvio_connectors``: the helper imports this very code, installed or not.
_CODE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Timeout(Exception):
    """The deadline passed before the frame was through."""


class Gone(Exception):
    """The helper closed its end (it died)."""


class HelperProcess:
    """One helper process and our end of its socket."""

    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket, errors: IO[bytes]) -> None:
        self.process = process
        self.sock = sock
        self.errors = errors
        self.connected: set[str] = set()
        self.broken = False

    @classmethod
    def start(cls, endpoint: str | None) -> HelperProcess:
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
        self._io(deadline, self.sock.sendall, HEADER.pack(len(data)) + data)

    def receive(self, deadline: float) -> tuple[Any, ...]:
        (size,) = HEADER.unpack(self._read(HEADER.size, deadline))
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
                raise Gone()
            got += count
        return bytes(buffer)

    def _io(self, deadline: float, operation: Callable[..., Any], *args: Any) -> Any:
        """``operation`` on the socket, within ``deadline``; a half-done frame breaks the helper."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.broken = True
            raise Timeout()
        self.sock.settimeout(remaining)
        try:
            return operation(*args)
        except TimeoutError:
            self.broken = True
            raise Timeout() from None
        except OSError:
            self.broken = True
            raise Gone() from None

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
