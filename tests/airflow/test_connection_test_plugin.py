"""The provider's api-server middleware for the connection list's Test button (``connection_test.py``);
tests/e2e/test_e2e_ui.py presses that button in a real Airflow."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from airflow_provider_fluvio.connection_test import (
    ConnectionTestPortZero,
    FluvioConnectionTestPlugin,
    airflow_rejects_port_zero,
)


async def _echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"raw": body.decode(), "length": request.headers.get("content-length")})


def _posted(path: str, **kwargs: Any) -> Any:
    return json.loads(_client().post(path, **kwargs).json()["raw"])


def _client() -> TestClient:
    """The middleware around an app that echoes the body it got, as on Airflow 3.3.2."""
    app = Starlette(routes=[Route("/api/v2/connections/test", _echo, methods=["POST"]),
                           Route("/api/v2/connections", _echo, methods=["POST"])])
    middleware = ConnectionTestPortZero(app)  # type: ignore[arg-type]
    middleware.active = True
    return TestClient(middleware)  # type: ignore[arg-type]


@pytest.mark.parametrize(("zero_is_blank", "active"), [(False, True), (True, False)])
def test_active_only_where_airflow_takes_port_zero_for_another_destination(
    monkeypatch: pytest.MonkeyPatch, zero_is_blank: bool, active: bool
) -> None:
    """Airflow 3.3.2's check (``_same_endpoint(0, None)`` is False) switches it on; the fixed one
    (apache/airflow#73298) off. The e2e test runs it against the installed Airflow's route."""
    import sys
    import types

    fake = types.ModuleType("airflow.api_fastapi.core_api.routes.public.connections")
    fake._same_endpoint = lambda requested, stored: zero_is_blank or requested == stored  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    assert airflow_rejects_port_zero() is active
    assert ConnectionTestPortZero(_echo).active is active  # type: ignore[arg-type]


@pytest.mark.parametrize("conn_type", ["fluvio", "mqtt"])
def test_the_list_s_port_zero_becomes_null_for_this_provider_s_types(conn_type: str) -> None:
    posted = {"connection_id": "c", "conn_type": conn_type, "host": "", "port": 0, "password": "", "extra": "{}"}
    answer = _client().post("/api/v2/connections/test", json=posted).json()
    assert json.loads(answer["raw"]) == {**posted, "port": None}
    assert int(answer["length"]) == len(answer["raw"].encode())


@pytest.mark.parametrize(
    ("path", "posted"),
    [
        ("/api/v2/connections/test", {"connection_id": "c", "conn_type": "fluvio", "port": 9003}),  # a real port
        ("/api/v2/connections/test", {"connection_id": "c", "conn_type": "http", "port": 0}),  # not ours
        ("/api/v2/connections/test", {"connection_id": "c", "conn_type": "fluvio", "port": False}),
        ("/api/v2/connections/test", ["not", "an", "object"]),
        ("/api/v2/connections", {"connection_id": "c", "conn_type": "fluvio", "port": 0}),  # not the test
    ],
)
def test_everything_else_passes_through_untouched(path: str, posted: Any) -> None:
    assert _posted(path, json=posted) == posted


def test_a_body_that_is_not_json_passes_through() -> None:
    assert _client().post("/api/v2/connections/test", content=b"{not json").json()["raw"] == "{not json"


def test_the_plugin_installs_it_as_a_root_middleware() -> None:
    (entry,) = FluvioConnectionTestPlugin.fastapi_root_middlewares
    assert entry["middleware"] is ConnectionTestPortZero
