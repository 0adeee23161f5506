"""Fixtures for the Connectors app: the app in this process with a real auth manager (``ui_testing``).

The app is built once per session with its own ``ConnectorService``; every test still gets its own
FLUVIO_CONNECTORS_HOME (tests/conftest.py), which the service reads on each call (``fluvio_default``
without a connection is the environment), so tests see only their own connectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ui_testing import GRANTS, UiApp, airflow_auth, ensure_airflow_db

from airflow_provider_fluvio.ui.service import ConnectorService


@pytest.fixture(scope="session")
def ui_service() -> Iterator[ConnectorService]:
    """The service behind the app; hooks are not reused between calls (each test has its own home)."""
    service = ConnectorService(call_seconds=30.0, hook_seconds=0.0)
    yield service
    service.close()


@pytest.fixture(scope="session")
def ui_session_app(ui_service: ConnectorService) -> Iterator[UiApp]:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from airflow_provider_fluvio.ui.app import create_app

    ensure_airflow_db()
    with airflow_auth("ui_testing.TableAuthManager", {user: "viewer" for user in GRANTS}) as manager:
        root = FastAPI()
        root.mount("/fluvio", create_app(ui_service))
        tokens = {user: manager.generate_jwt(SimpleAuthManagerUser(username=user, role="viewer")) for user in GRANTS}
        with TestClient(root) as client:
            yield UiApp(client, tokens)


@pytest.fixture
def ui_app(ui_session_app: UiApp, fluvio_home: Path) -> Iterator[UiApp]:
    """The app, on this test's state directory; connectors a test leaves are deleted after it."""
    yield ui_session_app
    from airflow_provider_fluvio.runtimes.local import LocalRuntime

    runtime = LocalRuntime()
    for info in runtime.list():
        runtime.delete(info.name)
