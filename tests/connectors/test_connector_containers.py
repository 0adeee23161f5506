"""Each connector image as a real container, run the way the Kubernetes runtime's Deployment runs it
(the sinks against a PostgreSQL and an HTTP receiver on the host).

The images come from ``docker/build-images.sh`` (buildah, stand-in bases from Debian packages); the
container's settings come from the Deployment, ConfigMap and Secret the runtime builds for the
connector (``container_fixtures.PodContainer``): uid 1000, read-only root, the ``emptyDir`` on
``/tmp`` as the only writable place, the config file where the ConfigMap is mounted, secrets as
environment variables. The ``emptyDir`` is a directory of the test, so the test reads the status
file and the records the connector wrote there, with the project's own readers.

Skipped with the reason where podman, buildah or mmdebstrap are missing or not root, unless
``FLUVIO_IMAGES_REQUIRED=1`` (CI), which fails instead.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connector_fixtures import Broker, mqtt_config, wait_for
from container_fixtures import BuiltImage, PodContainer, build_images, images_missing, podman
from http_receiver import Receiver
from postgres_server import PASSWORD, PostgresServer

from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime
from fluvio_connectors.catalog import all_types
from fluvio_connectors.config import ConnectorConfig, load_config
from fluvio_connectors.status import ProgramState, ProgramStatus, read_status
from fluvio_connectors.topics.embedded import EmbeddedTopics

pytestmark = [pytest.mark.system]

GRACE = 10  # seconds podman waits after SIGTERM before SIGKILL, as a pod's grace period would


@pytest.fixture(scope="module")
def images() -> dict[str, BuiltImage]:
    reason = images_missing()
    if reason:
        if os.environ.get("FLUVIO_IMAGES_REQUIRED") == "1":
            pytest.fail(f"connector images required (FLUVIO_IMAGES_REQUIRED=1) but: {reason}")
        pytest.skip(f"connector images cannot be built here: {reason}")
    return build_images()


@pytest.fixture
def pod_container(images: dict[str, BuiltImage], tmp_path: Path) -> Iterator[Callable[..., PodContainer]]:
    """``pod_container(config, host_network=False, config_text=None)``: the connector's pod as a
    container (not started); ``config_text`` replaces the ConfigMap's config file. Removed after."""
    made: list[PodContainer] = []

    def make(config: ConnectorConfig, *, host_network: bool = False, config_text: str | None = None) -> PodContainer:
        runtime = KubernetesRuntime(namespace="connectors", registry="localhost", host_network=host_network)
        deployment = runtime.build_deployment(config)
        deployment.metadata.uid = "0b0e19a3-0000-4000-8000-000000000001"  # the API server's part
        config_map = runtime.build_config_map(config, deployment)
        if config_text is not None:
            config_map.data = {key: config_text for key in config_map.data}
        secret = runtime.build_secret(config, deployment) if config.secrets else None
        container = PodContainer(deployment, config_map, secret, images[config.type].id,
                                 tmp_path / f"pod-{len(made)}")
        made.append(container)
        return container

    yield make
    for container in made:
        container.remove()


def tmp_volume(container: PodContainer) -> Path:
    """The host directory behind the pod's /tmp (its emptyDir)."""
    (mount,) = [m for m in container.container.volume_mounts if m.mount_path == "/tmp"]
    return container.volumes[mount.name]


def status_of(container: PodContainer) -> ProgramStatus | None:
    env = {e.name: e.value for e in container.container.env}
    return read_status(tmp_volume(container) / Path(env["FLUVIO_CONNECTOR_STATUS_FILE"]).relative_to("/tmp"))


def topics_db(container: PodContainer) -> Path:
    """The container's embedded log, as the host sees it (in the pod's /tmp emptyDir)."""
    env = {e.name: e.value for e in container.container.env}
    return tmp_volume(container) / Path(env["FLUVIO_CONNECTORS_HOME"]).relative_to("/tmp") / "topics.db"


def records_of(container: PodContainer, topic: str) -> list[str]:
    with EmbeddedTopics(topics_db(container)) as topics:
        return [r.value_text() for r in topics.read(topic)] if topics.topic_exists(topic) else []


def produce_to(container: PodContainer, topic: str, values: list[str]) -> None:
    """Store ``values`` in the container's embedded log, as a source beside the sink would."""
    with EmbeddedTopics(topics_db(container)) as topics:
        producer = topics.producer(topic)
        for value in values:
            producer.send(None, value.encode())
        producer.flush()
        producer.close()


def wait_state(container: PodContainer, *states: ProgramState, timeout: float = 60) -> ProgramStatus:
    def reached() -> ProgramStatus | None:
        assert container.state()["status"] == "running", container.logs()
        status = status_of(container)
        return status if status is not None and status.state in states else None

    result: ProgramStatus = wait_for(reached, timeout, f"{container.name} to be {'/'.join(states)}")
    return result


def test_images_run_the_connector_as_uid_1000_without_airflow(images: dict[str, BuiltImage]) -> None:
    assert set(images) == {t.name for t in all_types()}
    for image in images.values():
        (info,) = json.loads(podman("image", "inspect", image.id).stdout)
        config = info["Config"]
        assert config["User"] == "1000:1000"
        assert config["Entrypoint"][:2] == ["python", "-m"]
        assert info["Healthcheck"]["Test"] == ["CMD", "python", "-m", "fluvio_connectors.probe", "--quiet"]
        assert image.name in info["RepoTags"]
        # every program and its drivers import (psycopg with its bundled libpq, httpx), Airflow does not
        check = podman("run", "--rm", "--pull", "never", "--network", "none", "--ulimit", "nofile=1024:1024",
                       "--ulimit", "nproc=1024:1024", "--entrypoint", "python", image.id, "-c",
                       "import importlib.metadata as m, sys; import fluvio_connectors.mqtt, fluvio, paho.mqtt;"
                       "import fluvio_connectors.sql_sink, fluvio_connectors.http_sink, psycopg, httpx;"
                       "assert psycopg.pq.version() >= 150000, psycopg.pq.version();"
                       "print(sorted(d.metadata['Name'].lower() for d in m.distributions()));"
                       "import airflow", check=False)
        assert "No module named 'airflow'" in check.stderr, check.stderr
        installed = json.loads(check.stdout.replace("'", '"'))
        assert not [name for name in installed if "airflow" in name]
        assert {"fluvio", "paho-mqtt", "pydantic", "pyyaml", "psycopg", "psycopg-binary", "httpx"} <= set(installed)


def test_test_connector_container_as_its_pod_runs_it(pod_container: Callable[..., PodContainer]) -> None:
    config = load_config({"version": "0.1.0", "name": "in-a-container", "type": "test-connector",
                          "topic": "container-topic", "create_topic": True,
                          "parameters": {"count": 5, "timeout": 100},
                          "secrets": {"API_TOKEN": "t0ken-in-env"}}, secrets={})
    container = pod_container(config).start()
    # FLUVIO_CONNECTOR_STAY_AFTER_FINISH (set by the runtime): finished, still up and ready
    wait_state(container, ProgramState.FINISHED)
    assert records_of(container, "container-topic") == [f"Hello, Fluvio! - {i}" for i in range(1, 6)]
    probe = container.readiness_probe()
    assert probe.returncode == 0 and "finished, 5 records" in probe.stdout
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0
    who = container.exec("python", "-c", "import os; print(os.getuid(), os.getgid(), os.environ['API_TOKEN']);"
                         "open('/opt/fluvio-connectors/x', 'w')")
    assert who.stdout.split() == ["1000", "1000", "t0ken-in-env"]  # the Secret's key, as environment
    assert "Read-only file system" in who.stderr
    assert container.stop(GRACE) == 0  # SIGTERM, not the SIGKILL after the grace period
    log = container.logs()
    assert "finished: 5 records in topic container-topic" in log
    assert "t0ken-in-env" not in log


def test_mqtt_container_on_the_host_network(
    pod_container: Callable[..., PodContainer], broker_factory: Callable[..., Broker]
) -> None:
    broker = broker_factory(users={"sensor-reader": "s3cret-pass"})
    raw = mqtt_config(broker, "container-mqtt", name="mqtt-in-a-container")
    config = load_config(raw, secrets={"MQTT_USERNAME": "sensor-reader", "MQTT_PASSWORD": "s3cret-pass"})
    assert config.secrets  # the credentials travel in the Secret, not the ConfigMap
    container = pod_container(config, host_network=True).start()
    wait_state(container, ProgramState.READY)
    assert container.readiness_probe().returncode == 0
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0
    broker.publish("sensors/box", [f"m{i}" for i in range(20)], qos=1)
    wait_for(lambda: len(records_of(container, "container-mqtt")) >= 20, 60, "20 records")
    assert container.stop(GRACE) == 0
    payloads = [bytes(json.loads(v)["payload"]).decode() for v in records_of(container, "container-mqtt")]
    assert payloads == [f"m{i}" for i in range(20)]  # in order, once each: the connector never restarted
    assert "s3cret-pass" not in container.logs()


def test_sql_sink_container_on_the_host_network_writes_rows_to_postgresql(
    pod_container: Callable[..., PodContainer], postgres: PostgresServer
) -> None:
    """The sql-sink image as its pod runs it, against a PostgreSQL on the host: rows and position
    in the database, the URL (with its password) only in the Secret."""
    schema = f"c_{uuid.uuid4().hex[:10]}"
    postgres.execute(f"CREATE SCHEMA {schema}")
    postgres.execute(f"CREATE TABLE {schema}.readings (id INTEGER PRIMARY KEY, temp DOUBLE PRECISION)")
    raw = {"version": "0.1.0", "name": "sql-in-a-container", "type": "sql-sink", "topic": "rows", "create_topic": True,
           "parameters": {"url": "${{ secrets.SQL_URL }}", "mapping": {"table": f"{schema}.readings", "map-columns": {
               "id": {"json-key": "id", "value": {"type": "int", "required": True}},
               "temp": {"json-key": "temp", "value": {"type": "double precision"}}}}}}
    config = load_config(raw, secrets={"SQL_URL": postgres.url()})
    container = pod_container(config, host_network=True).start()
    wait_state(container, ProgramState.READY)
    produce_to(container, "rows", [json.dumps({"id": i, "temp": 20 + i / 10}) for i in range(1, 201)])

    def rows() -> int:
        return int(postgres.execute(f"SELECT count(*) FROM {schema}.readings")[0][0])

    wait_for(lambda: rows() == 200, 60, "200 rows in PostgreSQL")
    assert postgres.execute(f"SELECT count(DISTINCT id), min(id), max(id) FROM {schema}.readings") == [(200, 1, 200)]
    # the position, in the same database (public.fluvio_sink_offsets: the default offsets table)
    assert postgres.execute("SELECT next_offset, delivered FROM fluvio_sink_offsets WHERE connector = %s",
                            ("sql-in-a-container",)) == [(200, 200)]
    assert container.readiness_probe().returncode == 0
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0
    assert container.stop(GRACE) == 0
    assert PASSWORD not in container.logs()
    assert PASSWORD not in json.dumps(container.config_map.data)  # only the Secret holds it


def test_http_sink_container_on_the_host_network_posts_each_record(
    pod_container: Callable[..., PodContainer],
) -> None:
    """The http-sink image as its pod runs it: a request per record to a receiver on the host, with
    its Idempotency-Key and the header built from a secret."""
    receiver = Receiver().start()
    try:
        raw = {"version": "0.1.0", "name": "http-in-a-container", "type": "http-sink", "topic": "calls",
               "create_topic": True, "parameters": {"endpoint": receiver.url, "headers": [
                   "Content-Type: application/json", "Authorization: Bearer ${{ secrets.API_TOKEN }}"]}}
        config = load_config(raw, secrets={"API_TOKEN": "t0ken-7781"})
        container = pod_container(config, host_network=True).start()
        wait_state(container, ProgramState.READY)
        produce_to(container, "calls", [json.dumps({"n": i}) for i in range(20)])
        wait_for(lambda: len([r for r in receiver.snapshot() if r.delivered]) >= 20, 60, "20 requests")
        assert container.stop(GRACE) == 0
        delivered = [r for r in receiver.snapshot() if r.delivered]
        assert [json.loads(r.body) for r in delivered] == [{"n": i} for i in range(20)]  # in order, once each
        assert [r.key for r in delivered] == [f'"calls:0:{i}"' for i in range(20)]
        assert {r.headers["authorization"] for r in delivered} == {"Bearer t0ken-7781"}
        assert "t0ken-7781" not in container.logs()
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("name: bad-count\ntype: test-connector\ntopic: t\nparameters: {count: -1}\n", "count"),
        ("name: bad-mqtt\ntype: mqtt\ntopic: t\nparameters: {qos: 7}\n", "qos"),
        ("name: bad-sql\ntype: sql-sink\ntopic: t\nparameters: {url: 'mysql://db/x'}\n", "url"),
        ("name: bad-http\ntype: http-sink\ntopic: t\nparameters: {endpoint: 'ftp://x/y'}\n", "endpoint"),
    ],
    ids=["test-connector", "mqtt", "sql-sink", "http-sink"],
)
def test_bad_config_exits_2_with_one_line(
    pod_container: Callable[..., PodContainer], text: str, names: str
) -> None:
    good: dict[str, Any] = {"name": "fine", "type": text.split("type: ")[1].split("\n")[0], "topic": "t",
                            "create_topic": True}
    good["parameters"] = {
        "mqtt": {"mqtt-url": "mqtt://127.0.0.1:1", "mqtt-topic": "a/#"},
        "sql-sink": {"url": "postgresql://127.0.0.1:1/x"},
        "http-sink": {"endpoint": "http://127.0.0.1:1/x"},
    }.get(good["type"], {})
    container = pod_container(load_config(good, secrets={}), config_text=text).start()
    assert container.wait_exit() == 2
    lines = [line for line in container.logs().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert names in lines[0] and "Traceback" not in lines[0]
