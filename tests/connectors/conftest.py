"""Fixtures for the connector program tests: a real MQTT broker, connector processes.

The helpers behind them live in ``connector_fixtures.py`` (tests import them from there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connector_fixtures import Broker, ConnectorProcess, TlsMaterial, broker_kind, make_tls


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start brokers (``users=``, ``tls=``, ``require_client_cert=``, ``kind=``); all stopped after."""
    started: list[Broker] = []

    def start(**options: Any) -> Broker:
        kind = options.pop("kind", None) or broker_kind()
        broker = Broker(kind=kind, workdir=tmp_path / f"broker-{len(started)}", **options)
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()

@pytest.fixture
def broker(broker_factory: Callable[..., Broker]) -> Broker:
    """An anonymous plain-TCP broker."""
    return broker_factory()

@pytest.fixture
def tls_material(tmp_path: Path) -> TlsMaterial:
    return make_tls(tmp_path / "tls")

@pytest.fixture
def connector(tmp_path: Path) -> Iterator[Callable[..., ConnectorProcess]]:
    """Make connector processes: ``connector(module, config, secrets=None, env=None)`` (not started);
    any still running at the end are killed."""
    made: list[ConnectorProcess] = []

    def make(module: str, config: dict[str, Any] | str, *, secrets: dict[str, str] | None = None,
             env: dict[str, str] | None = None) -> ConnectorProcess:
        process = ConnectorProcess(module, tmp_path / f"connector-{len(made)}", config, secrets, env)
        made.append(process)
        return process

    yield make
    for process in made:
        process.kill()
