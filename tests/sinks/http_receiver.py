"""A real HTTP receiver for the http-sink tests and bench: a threaded server on a free 127.0.0.1
port that records every request it gets and answers as a script says: 2xx, an error status (500,
429 with ``Retry-After``, 400, ...), a hang (no answer for a while, then the connection closes), or
a connection closed without an answer.

``Receiver.plan`` decides each request's fate from the request number (1, 2, ...) and the request;
the default answers 200. Everything received is in ``requests`` (also the ones not answered 2xx).
Run as a program it answers 200 to everything and prints its URL (``bench/sink_bench.py``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    number: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived
    answer: str  # "200", "500", "hang", "close", ...

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def delivered(self) -> bool:
        return self.answer.isdigit() and 200 <= int(self.answer) < 300


@dataclass(frozen=True)
class Answer:
    """What to do with a request: ``status`` (with ``headers`` and ``body``), ``hang`` seconds
    without an answer (then close), or ``close`` the connection at once."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: float = 0.0
    close: bool = False

    @property
    def label(self) -> str:
        return "close" if self.close else ("hang" if self.hang else str(self.status))


Plan = Callable[[int, "Received"], Answer]


class Receiver:
    def __init__(self, plan: Plan | None = None) -> None:
        self.plan: Plan = plan or (lambda number, request: Answer())
        self.requests: list[Received] = []
        self.last_delivery: dict[str | None, float] = {}  # key -> when it was last answered 2xx
        self._lock = threading.Lock()
        self._count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver._count += 1
                    number = receiver._count
                request = Received(number, self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                   body, time.monotonic(), "")
                answer = receiver.plan(number, request)
                with receiver._lock:
                    receiver.requests.append(Received(**{**request.__dict__, "answer": answer.label}))
                    if 200 <= answer.status < 300 and not (answer.close or answer.hang):
                        receiver.last_delivery[request.key] = request.at
                if answer.close:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if answer.hang:
                    time.sleep(answer.hang)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_POST = do_PUT = do_PATCH = _handle

            def do_GET(self) -> None:
                """``GET /arrived?key=KEY``: when (time.monotonic) a request with ``KEY`` was last
                answered 2xx, or 404: how a benchmark in another process sees a record arrive."""
                from urllib.parse import parse_qs, urlsplit

                wanted = parse_qs(urlsplit(self.path).query).get("key", [""])[0]
                with receiver._lock:
                    found = receiver.last_delivery.get(wanted)
                body = b"" if found is None else repr(found).encode()
                self.send_response(404 if found is None else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/ingest"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def delivered(self) -> list[Received]:
        return [r for r in self.snapshot() if r.delivered]


if __name__ == "__main__":  # a receiver in a process of its own (bench/sink_bench.py): 200 to everything
    import signal

    served = Receiver().start()
    print(served.url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    served.stop()
