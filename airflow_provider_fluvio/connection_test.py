"""The Test button of the connection list, for this provider's connection types on Airflow 3.3.2.

A ``fluvio`` connection for the embedded log has no host and no port. The list's Test button posts
the stored connection with ``port: Number(connection.port)``, which is ``0`` for a stored NULL, and
Airflow 3.3.2's ``POST /api/v2/connections/test`` takes ``0`` for another destination than the
stored NULL: "The host or port to test differs from the stored connection" (400). Airflow fixed
this in its API after 3.3.2 (apache/airflow#73298: ``0`` counts as blank there, as no service
listens on port 0).

``ConnectionTestPortZero``, a root middleware of the api-server (added by the provider's plugin
``fluvio_connection_test``), carries that fix for the ``fluvio`` and ``mqtt`` types only: it turns
``port: 0`` into ``null`` in such a request before Airflow reads it. Any other port still has to
match the stored one (or bring its own credentials), exactly as Airflow decides. It does nothing
on an Airflow whose API already treats 0 as blank.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CONNECTION_TYPES = frozenset({"fluvio", "mqtt"})
TEST_PATH = "/api/v2/connections/test"
MAX_BODY = 1024 * 1024  # a connection is small; anything larger passes through untouched


def airflow_rejects_port_zero() -> bool:
    """Whether this Airflow's connection test takes port 0 for a port other than a stored NULL."""
    try:
        from airflow.api_fastapi.core_api.routes.public.connections import _same_endpoint
    except ImportError:  # moved or gone: assume a fixed Airflow rather than guess at its API
        return False
    return not _same_endpoint(0, None)


def without_port_zero(body: bytes) -> bytes | None:
    """``body`` with ``port: 0`` made ``null`` when it tests one of this provider's types; None
    when it needs no change (anything that is not such a JSON object passes through as it was)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("conn_type") not in CONNECTION_TYPES:
        return None
    port = data.get("port")
    if port != 0 or isinstance(port, bool):
        return None
    data["port"] = None
    return json.dumps(data).encode()


class ConnectionTestPortZero:
    """ASGI middleware: see the module docstring. Active only where Airflow needs it."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.active = airflow_rejects_port_zero()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (self.active and scope.get("type") == "http" and scope.get("method") == "POST"
                and str(scope.get("path", "")).endswith(TEST_PATH)):
            await self.app(scope, receive, send)
            return
        body, messages = b"", []
        while True:
            message = await receive()
            messages.append(message)
            if message.get("type") != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > MAX_BODY:
                break
        whole = messages[-1].get("type") == "http.request" and not messages[-1].get("more_body")
        fixed = without_port_zero(body) if whole else None
        if fixed is not None:
            messages = [{"type": "http.request", "body": fixed, "more_body": False}]
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(fixed)).encode())]}

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class FluvioConnectionTestPlugin(AirflowPlugin):
    """Installs ``ConnectionTestPortZero`` in the api-server."""

    name = "fluvio_connection_test"
    fastapi_root_middlewares = [
        {"middleware": ConnectionTestPortZero, "args": [], "kwargs": {}, "name": "Fluvio connection test: port 0"}
    ]


__all__ = ["ConnectionTestPortZero", "FluvioConnectionTestPlugin", "airflow_rejects_port_zero", "without_port_zero"]
