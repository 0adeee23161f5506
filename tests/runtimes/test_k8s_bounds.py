"""The Kubernetes runtime never waits forever on the API server: every call has a timeout, and what
fails transiently is tried again (``runtimes/k8s_client.py``). Against real sockets on 127.0.0.1: a
server that accepts and never answers, one that resets every connection, and a small HTTP server
that answers 503 or 429 before it answers properly."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from airflow_provider_fluvio.runtimes import k8s_client
from airflow_provider_fluvio.runtimes.k8s_client import BoundedApi
from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
from fluvio_connectors.errors import BackendError


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s_client, "RETRY_DELAYS", (0.01, 0.01, 0.01))


def kube_config(port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "here",
        "clusters": [{"name": "here", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": "here", "context": {"cluster": "here", "user": "nobody"}}],
    }


class Peer:
    """A TCP server on 127.0.0.1 that does ``handle`` with each connection and counts them."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._handle = handle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = self.server.accept()
                self.accepted += 1
                self.held.append(conn)
                self._handle(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.server.close()


@contextlib.contextmanager
def peer(handle: Callable[[socket.socket], None]) -> Iterator[Peer]:
    server = Peer(handle)
    try:
        yield server
    finally:
        server.close()


def silent(conn: socket.socket) -> None:
    """Accept and never say a word."""


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # RST: "connection reset by peer"


def fails_within(call: Callable[[], Any], seconds: float) -> str:
    """``call`` raises a one-line BackendError, and does so while a thread waits ``seconds`` for it."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call still waits after {seconds} s"
    error = outcome.get("error")
    assert isinstance(error, BackendError), repr(error)
    assert "\n" not in str(error)
    return str(error)


def test_a_server_that_never_answers_fails_a_status_poll_after_one_timeout() -> None:
    with peer(silent) as server:
        runtime = KubernetesRuntime(kube_config=kube_config(server.port), request_timeout=0.5)
        message = fails_within(lambda: runtime.status("orders"), 30)
        runtime.close()
        assert message == "Kubernetes API, reading Deployment orders in namespace default: no answer within 0.5 s"
        assert server.accepted == 1  # a silent server is not asked again


@pytest.mark.parametrize("operation", ["list", "logs", "delete"])
def test_every_operation_is_bounded(operation: str) -> None:
    with peer(silent) as server:
        runtime = KubernetesRuntime(kube_config=kube_config(server.port), request_timeout=0.5)
        call = runtime.list if operation == "list" else lambda: getattr(runtime, operation)("orders")
        assert fails_within(call, 30).endswith("no answer within 0.5 s")
        runtime.close()


def test_a_reset_connection_is_tried_again_then_reported() -> None:
    with peer(reset) as server:
        runtime = KubernetesRuntime(kube_config=kube_config(server.port), request_timeout=5)
        message = fails_within(runtime.list, 30)
        runtime.close()
    assert message.startswith("cannot reach the Kubernetes API (listing Deployments): ")
    assert "Connection reset by peer" in message
    assert server.accepted == 1 + len(k8s_client.RETRY_DELAYS)


class Scripted(BaseHTTPRequestHandler):
    """Empty lists for every GET, after the statuses queued in ``failures``."""

    failures: list[int] = []
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if type(self).failures:
            code = type(self).failures.pop(0)
            self._send(code, {"kind": "Status", "code": code, "message": "busy"}, {"Retry-After": "0"})
            return
        kind = "PodList" if "/pods" in self.path else "DeploymentList"
        self._send(200, {"apiVersion": "v1", "kind": kind, "metadata": {}, "items": []}, {})

    def _send(self, code: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[int]:
    Scripted.failures, Scripted.requests = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_503_and_429_are_waited_out(scripted: int) -> None:
    Scripted.failures = [503, 429, 502]
    runtime = KubernetesRuntime(kube_config=kube_config(scripted), request_timeout=5)
    assert runtime.list() == []
    runtime.close()
    # The first call was tried four times; the two lists after it once each.
    assert len(Scripted.requests) == 4 + 2
    assert len(set(Scripted.requests[:4])) == 1


def test_a_server_error_that_lasts_is_reported_with_its_status(scripted: int) -> None:
    Scripted.failures = [503] * 10
    runtime = KubernetesRuntime(kube_config=kube_config(scripted), request_timeout=5)
    message = fails_within(runtime.list, 30)
    runtime.close()
    assert message.startswith("Kubernetes API, listing Deployments in namespace default: 503")
    assert len(Scripted.requests) == 1 + len(k8s_client.RETRY_DELAYS)


# --------------------------------------------------------------------------- what is tried again


class Api:
    """An API object whose methods fail with ``errors`` in turn, then return "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[dict[str, Any]] = []

    def _method(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return "done"

    read_namespaced_deployment = create_namespaced_deployment = delete_namespaced_deployment = _method
    patch_namespaced_deployment = read_namespaced_pod_log = _method


def api_error(status: int) -> ApiException:
    return ApiException(status=status, reason="x")


@pytest.mark.parametrize(
    ("method", "error", "tried"),
    [
        ("read_namespaced_deployment", api_error(503), 2),
        ("read_namespaced_deployment", api_error(429), 2),
        ("read_namespaced_deployment", api_error(404), 1),
        ("patch_namespaced_deployment", api_error(500), 2),  # the same patch twice does the same
        ("create_namespaced_deployment", api_error(429), 2),  # the server did not handle it
        ("create_namespaced_deployment", api_error(500), 1),  # it may have: a retry could create twice
        ("delete_namespaced_deployment", api_error(503), 1),
        ("delete_namespaced_deployment", api_error(409), 1),
    ],
)
def test_only_what_is_safe_to_send_twice_is_sent_twice(method: str, error: ApiException, tried: int) -> None:
    api = Api(error)
    bounded = BoundedApi(api, request_timeout=7)
    if tried == 2:
        assert getattr(bounded, method)("name", "ns") == "done"
    else:
        with pytest.raises(ApiException):
            getattr(bounded, method)("name", "ns")
    assert len(api.calls) == tried
    assert all(call["_request_timeout"] == (7, 7) for call in api.calls)


def test_a_refused_connection_is_tried_again_for_any_call() -> None:
    from urllib3.exceptions import NewConnectionError

    api = Api(NewConnectionError(None, "refused"), NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    assert BoundedApi(api).create_namespaced_deployment("ns", {}) == "done"
    assert len(api.calls) == 3


def test_following_a_log_bounds_only_the_connection() -> None:
    api = Api()
    BoundedApi(api, request_timeout=7).read_namespaced_pod_log("pod", "ns", follow=True)
    assert api.calls[0]["_request_timeout"] == (7, None)
    BoundedApi(api, request_timeout=60).read_namespaced_pod_log("pod", "ns")
    assert api.calls[1]["_request_timeout"] == (k8s_client.CONNECT_TIMEOUT, 60)
