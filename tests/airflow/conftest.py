"""Fixtures for the Airflow layer: a real SQLite metadata DB, running DAGs with ``dag.test()``,
reading XCom, a scripted runtime for exact status sequences, and clean-up of local connectors.

``tests/conftest.py`` has already pointed AIRFLOW_HOME at a throwaway directory (SQLite) and
given each test its own FLUVIO_CONNECTORS_HOME.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime, ConnectorStatus
from fluvio_connectors.config import ConnectorConfig
from fluvio_connectors.errors import ConnectorExistsError, ConnectorNotFoundError
from fluvio_connectors.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "dags_examples"

# The seed's test-connector example, finite and fast.
SEED_TEST_CONNECTOR = {
    "version": "v1",
    "name": "hook-test",
    "type": "test-connector",
    "topic": "hook-topic",
    "create_topic": True,
    "direction": "source",
    "parameters": {"topic": "hook-topic", "count": 3, "timeout": 10},
}


@pytest.fixture
def seed_config() -> dict[str, Any]:
    """A fresh copy of the seed's test-connector config (name hook-test, topic hook-topic)."""
    return json.loads(json.dumps(SEED_TEST_CONNECTOR))


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata DB (dag.test() needs the tables)."""
    from airflow.utils import db

    db.resetdb()


@dataclass
class DagResult:
    """A finished ``dag.test()`` run: its state, task states and XCom return values."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = session.scalars(
                XComModel.get_many(run_id=self.run_id, dag_ids=self.dag_id, task_ids=task_id, key=key)
            ).first()
            return None if row is None else XComModel.deserialize_value(row)

    def rendered(self, task_id: str) -> dict[str, Any]:
        from airflow.models.renderedtifields import RenderedTaskInstanceFields
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalars(
                select(RenderedTaskInstanceFields).where(
                    RenderedTaskInstanceFields.dag_id == self.dag_id,
                    RenderedTaskInstanceFields.run_id == self.run_id,
                    RenderedTaskInstanceFields.task_id == task_id,
                )
            ).first()
            return dict(row.rendered_fields) if row else {}

    def reschedules(self, task_id: str) -> int:
        return reschedules(self.dag_id, self.run_id, task_id)

    def log_text(self, task_id: str) -> str:
        """Every log file of ``task_id`` in this run, concatenated."""
        from airflow.configuration import conf

        base = Path(conf.get("logging", "base_log_folder"))
        parts = []
        for path in sorted(base.glob(f"dag_id={self.dag_id}/run_id={self.run_id}/task_id={task_id}/**/*")):
            if path.is_file():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def _register(dag: Any) -> None:
    """Serialize a DAG built in a test into the DB (dag.test() refuses unserialized DAGs)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder="/dev/null", collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


@pytest.fixture
def run_dag(airflow_db: None) -> Callable[..., DagResult]:
    """Run a DAG end to end with ``dag.test()`` (triggers run inline) and return what happened."""

    def run(dag: Any, *, register: bool = True, **kwargs: Any) -> DagResult:
        if register:
            _register(dag)
        dr = dag.test(**kwargs)
        states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dr.get_task_instances()}
        return DagResult(dag.dag_id, dr.run_id, str(getattr(dr.state, "value", dr.state)), states)

    return run


def reschedules(dag_id: str, run_id: str, task_id: str) -> int:
    """How many times Airflow rescheduled a task of this run (reschedule-mode sensors)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        ti_ids = select(TaskInstance.id).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
        )
        count = session.scalar(
            select(func.count()).select_from(TaskReschedule).where(TaskReschedule.ti_id.in_(ti_ids))
        )
        return int(count or 0)


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Define an Airflow connection through its ``AIRFLOW_CONN_*`` variable (JSON form)."""

    def define(conn_id: str, **fields: Any) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))

    return define


@pytest.fixture(autouse=True)
def _no_leftover_connectors(fluvio_home: Path) -> Iterator[None]:
    """Delete every local connector a test left behind: no orphan processes between tests."""
    yield
    with contextlib.suppress(ImportError):
        from airflow_provider_fluvio.runtimes.local import LocalRuntime

        runtime = LocalRuntime(Settings.from_env())
        for info in runtime.list():
            with contextlib.suppress(Exception):
                runtime.delete(info.name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScriptedRuntime(ConnectorRuntime):
    """A runtime whose status answers follow a script: for status sequences a real connector
    cannot be made to show on demand (Pending forever, Failed on the third look)."""

    kind = "scripted"

    def __init__(
        self,
        settings: Settings | None = None,
        statuses: list[ConnectorStatus] | None = None,
        reason: str | None = None,
        log: list[str] | None = None,
        pending_since: datetime | None = None,
        pending_reason: str | None = None,
    ) -> None:
        super().__init__(settings)
        self.configs: dict[str, ConnectorConfig] = {}
        self.script = list(statuses or [ConnectorStatus.RUNNING])
        self.reason = reason
        self.pending_since = pending_since
        self.pending_reason = pending_reason
        self.log = list(log or [])
        self.looks = 0

    def _check_absent(self, name: str) -> None:
        if name in self.configs:
            raise ConnectorExistsError(name)

    def _start(self, config: ConnectorConfig, start_offset: int, replicas: int = 1) -> ConnectorInfo:
        self.configs[config.name] = config
        return self._info(config, ConnectorStatus.PENDING)

    def _info(self, config: ConnectorConfig, status: ConnectorStatus) -> ConnectorInfo:
        return ConnectorInfo(
            name=config.name,
            type=config.type,
            topic=config.topic,
            status=status,
            runtime=self.kind,
            version=config.version,
            reason=self.reason if status == ConnectorStatus.FAILED else self.pending_reason if status == ConnectorStatus.PENDING else None,
            pending_since=self.pending_since if status == ConnectorStatus.PENDING else None,
        )

    def delete(self, name: str) -> None:
        if self.configs.pop(name, None) is None:
            raise ConnectorNotFoundError(name)

    def list(self) -> builtins.list[ConnectorInfo]:
        return [self.status(name) for name in sorted(self.configs)]

    def status(self, name: str) -> ConnectorInfo:
        if name not in self.configs:
            raise ConnectorNotFoundError(name)
        status = self.script[min(self.looks, len(self.script) - 1)]
        self.looks += 1
        return self._info(self.configs[name], status)

    def logs(self, name: str, tail: int | None = 100, replica: str | None = None) -> builtins.list[str]:
        if name not in self.configs:
            raise ConnectorNotFoundError(name)
        return self.log[-tail:] if tail else builtins.list(self.log)


@pytest.fixture
def scripted_runtime(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ScriptedRuntime]:
    """Make every FluvioHook use one ScriptedRuntime (topics stay real: the embedded log)."""

    def install(**kwargs: Any) -> ScriptedRuntime:
        runtime = ScriptedRuntime(Settings.from_env(), **kwargs)
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook

        monkeypatch.setattr(FluvioHook, "runtime", property(lambda self: runtime))
        return runtime

    return install


@dataclass(frozen=True)
class Broker:
    host: str
    port: int


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[Broker]:
    """A real MQTT broker on a free loopback port: mosquitto where installed, else amqtt."""
    import shutil
    import subprocess
    import sys
    import time

    port = free_port()
    mosquitto = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if mosquitto:
        conf = tmp_path / "mosquitto.conf"
        # Queue without limit for persistent sessions: the stock 1000 drops messages.
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n"
        )
        argv = [mosquitto, "-c", str(conf)]
    else:
        conf = tmp_path / "amqtt.yaml"
        conf.write_text(
            f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        )
        argv = [str(Path(sys.executable).with_name("amqtt")), "-c", str(conf)]
    log = (tmp_path / "broker.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"MQTT broker did not start: {(tmp_path / 'broker.log').read_text()}")
            time.sleep(0.05)
        yield Broker("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def failures() -> tuple[Callable[[Any], None], dict[str, BaseException]]:
    """An ``on_failure_callback`` recording each failed task's exception, as Airflow hands it to
    user callbacks (and shows it in the task log), and the record it fills."""
    seen: dict[str, BaseException] = {}

    def record(context: Any) -> None:
        seen[context["ti"].task_id] = context["exception"]

    return record, seen
