"""FluvioHook: where the connection says topics live and connectors run, precedence of arguments
over extras, no connection at all, test_connection, secrets, topics and records."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_provider_fluvio.hooks import fluvio as hook_module
from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from fluvio_connectors.errors import ConfigError, ConnectorNotFoundError, TopicNotFoundError


def redacted(text: str) -> str:
    from airflow.providers.common.compat.sdk import redact

    return str(redact(text))


# ---------------------------------------------------------------------------- where things are


def test_no_connection_means_the_workers_environment(fluvio_home: Path) -> None:
    hook = FluvioHook()
    assert hook.connection_fields.conn_id is None
    assert hook.settings.home == fluvio_home
    assert hook.settings.topics_backend == "embedded"
    assert hook.settings.runtime == "local"
    assert hook.describe() == f"topics: embedded log at {fluvio_home}/topics.db; connectors: local runtime"


def test_constructing_does_no_io(tmp_path: Path) -> None:
    hook = FluvioHook("not_defined_anywhere", state_dir=tmp_path / "nowhere")
    assert hook.fluvio_conn_id == "not_defined_anywhere"
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(AirflowNotFoundException, match="not_defined_anywhere"):
        hook.settings  # noqa: B018 - only a misspelt non-default id fails, and only when used


def test_connection_fields_reach_settings_and_runtime(set_connection: Any, tmp_path: Path) -> None:
    set_connection(
        "fluvio_default",
        conn_type="fluvio",
        host="fluvio-sc.fluvio.svc",
        port=9103,
        extra={
            "runtime": "kubernetes",
            "state_dir": str(tmp_path / "state"),
            "namespace": "streams",
            "kube_config_path": "/etc/kube/config",
            "cluster_context": "prod",
            "image_registry": "ghcr.io/acme",
        },
    )
    hook = FluvioHook()
    assert hook.settings.fluvio_endpoint == "fluvio-sc.fluvio.svc:9103"
    assert hook.settings.topics_backend == "fluvio"
    assert hook.settings.home == tmp_path / "state"
    assert hook.settings.runtime == "kubernetes"
    assert hook.runtime_options() == {
        "namespace": "streams",
        "kube_config_path": "/etc/kube/config",
        "cluster_context": "prod",
        "registry": "ghcr.io/acme",
    }


def test_kubernetes_runtime_gets_the_connection_options(set_connection: Any) -> None:
    set_connection(
        "fluvio_default",
        conn_type="fluvio",
        host="fluvio-sc.fluvio.svc",
        extra={
            "runtime": "kubernetes",
            "namespace": "streams",
            "kube_config_path": "/etc/kube/config",
            "cluster_context": "prod",
            "image_registry": "ghcr.io/acme",
            "image_tag": "0.3.1",
            "host_network": "true",
        },
    )
    from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime

    runtime = FluvioHook().runtime  # built, not connected: the API is called on first use
    assert isinstance(runtime, KubernetesRuntime)
    assert (runtime.namespace, runtime.registry, runtime.image_tag) == ("streams", "ghcr.io/acme", "0.3.1")
    assert runtime.host_network is True
    assert (runtime.kube_config_path, runtime.cluster_context) == ("/etc/kube/config", "prod")
    assert runtime.fluvio_endpoint == "fluvio-sc.fluvio.svc:9003"


def test_connection_without_host_is_the_embedded_log(
    set_connection: Any, monkeypatch: pytest.MonkeyPatch, fluvio_home: Path
) -> None:
    monkeypatch.setenv("FLUVIO_ENDPOINT", "somewhere:9003")  # the connection, not the worker, decides
    set_connection("fluvio_default", conn_type="fluvio")
    hook = FluvioHook()
    assert hook.settings.topics_backend == "embedded"
    assert hook.settings.home == fluvio_home
    assert hook.runtime_options() == {}


@pytest.mark.parametrize(
    ("host", "port", "endpoint"),
    [
        ("sc", None, "sc:9003"),
        ("sc:9200", None, "sc:9200"),
        ("sc:9200", 9300, "sc:9300"),
        ("sc", "9004", "sc:9004"),
        ("fluvio://sc:9200/", None, "sc:9200"),
        # IPv6: bare (no room for a port), or in brackets with one; always written in brackets
        ("::1", None, "[::1]:9003"),
        ("::1", 9100, "[::1]:9100"),
        ("[::1]", None, "[::1]:9003"),
        ("[::1]:9100", None, "[::1]:9100"),
        ("[fd00::1]:9100", 9300, "[fd00::1]:9300"),
    ],
)
def test_endpoint_from_host_and_port(host: str, port: Any, endpoint: str) -> None:
    assert FluvioHook(None, host=host, port=port).settings.fluvio_endpoint == endpoint


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("sc:abc", None, "fluvio hook: host: the port of 'sc:abc' must be a number from 1 to 65535"),
        ("[::1", None, "fluvio hook: host: '[::1' opens a '[' it does not close; expected [IPv6]:port"),
        ("::zz", None, "fluvio hook: host: '::zz' is not an IPv6 address"),
        ("sc", "x", "fluvio hook: port must be a number, got 'x'"),
    ],
)
def test_a_bad_host_or_port_is_one_clear_error(host: str, port: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        FluvioHook(None, host=host, port=port).settings  # noqa: B018
    assert str(error.value) == message


PRECEDENCE = [
    # field, value in the connection's extra, explicit argument, what the user sees
    ("state_dir", "/from/extra", "/from/arg", lambda h: str(h.settings.home)),
    ("runtime", "local", "kubernetes", lambda h: h.settings.runtime),
    ("namespace", "extra-ns", "arg-ns", lambda h: h.runtime_options()["namespace"]),
    (
        "kube_config_path",
        "/extra/kubeconfig",
        "/arg/kubeconfig",
        lambda h: h.runtime_options()["kube_config_path"],
    ),
    ("cluster_context", "extra-ctx", "arg-ctx", lambda h: h.runtime_options()["cluster_context"]),
    ("image_registry", "extra.io/x", "arg.io/y", lambda h: h.runtime_options()["registry"]),
    ("use_fluvio_profile", "false", True, lambda h: h.settings.use_fluvio_profile),
    ("host", "extra-host", "arg-host", lambda h: h.settings.fluvio_endpoint.split(":")[0]),
]


@pytest.mark.parametrize(
    ("field", "extra_value", "arg_value", "seen"), PRECEDENCE, ids=[p[0] for p in PRECEDENCE]
)
def test_explicit_argument_beats_the_connection(
    set_connection: Any, field: str, extra_value: Any, arg_value: Any, seen: Any
) -> None:
    extra = {"runtime": "kubernetes", field: extra_value}
    host = extra.pop("host", None)
    set_connection("fluvio_default", conn_type="fluvio", host=host, extra=extra)
    args = {"runtime": "kubernetes", field: arg_value}
    from_extra = FluvioHook(runtime="kubernetes") if field != "runtime" else FluvioHook()
    assert seen(from_extra) in (extra_value, False)  # use_fluvio_profile "false" reads as False
    assert seen(FluvioHook(**args)) == arg_value


def test_prefixed_extras_of_older_forms_are_read(set_connection: Any, tmp_path: Path) -> None:
    set_connection("fluvio_default", conn_type="fluvio", extra={"extra__fluvio__state_dir": str(tmp_path)})
    assert FluvioHook().settings.home == tmp_path


def test_in_cluster_from_a_string_extra(set_connection: Any) -> None:
    set_connection(
        "fluvio_default", conn_type="fluvio", extra={"runtime": "kubernetes", "in_cluster": "true"}
    )
    assert FluvioHook().runtime_options() == {"in_cluster": True}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"runtime": "docker"},
            "connection fluvio_default: unknown runtime 'docker'; expected one of: local, kubernetes",
        ),
        ({"runtime": "kubernetes", "in_cluster": "maybe"}, "in_cluster must be true or false, got 'maybe'"),
        (
            {"runtime": "kubernetes", "in_cluster": True, "kube_config_path": "/k"},
            "in_cluster and kube_config_path exclude each other; set only one of",
        ),
    ],
)
def test_bad_connection_values_are_named(set_connection: Any, extra: dict[str, Any], message: str) -> None:
    set_connection("fluvio_default", conn_type="fluvio", extra=extra)
    with pytest.raises(ConfigError) as info:
        FluvioHook().runtime_options()
    assert message in str(info.value)


def test_bad_port_is_named() -> None:
    with pytest.raises(ConfigError, match="port must be a number, got 'abc'"):
        FluvioHook(None, host="sc", port="abc").settings  # noqa: B018


# ---------------------------------------------------------------------------- test_connection


def test_test_connection_really_connects(fluvio_home: Path) -> None:
    hook = FluvioHook()
    hook.create_topic("seen-by-test")
    ok, message = hook.test_connection()
    assert ok, message
    assert message == (
        f"Connection successful. topics: embedded log at {fluvio_home}/topics.db; connectors: local runtime; "
        "1 topic(s), 0 connector(s)."
    )


def test_test_connection_reports_the_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    ok, message = FluvioHook(None, state_dir=blocker).test_connection()
    assert not ok
    assert str(blocker) in message


def test_test_connection_is_bounded(monkeypatch: pytest.MonkeyPatch, scripted_runtime: Any) -> None:
    runtime = scripted_runtime()
    release = threading.Event()
    monkeypatch.setattr(runtime, "list", lambda: release.wait(30) and [])
    monkeypatch.setattr(hook_module, "TEST_CONNECTION_TIMEOUT", 0.5)
    try:
        ok, message = FluvioHook().test_connection()
    finally:
        release.set()
    assert not ok
    assert message.startswith("no answer within 0.5 s (topics: embedded log at")


# ---------------------------------------------------------------------------- secrets


def test_secret_values_are_masked_and_never_in_the_config_document(
    scripted_runtime: Any, seed_config: dict[str, Any]
) -> None:
    scripted_runtime()
    config = {
        "version": "latest",
        "name": "masked-mqtt",
        "type": "mqtt",
        "topic": "masked",
        "create_topic": True,
        "parameters": {"mqtt-url": "mqtt://127.0.0.1:1883", "mqtt-topic": "a/#"},
        "secrets": {"MQTT_PASSWORD": "inline-pass-123"},
    }
    loaded = FluvioHook().load_config(config, secrets={"MQTT_USERNAME": "given-user-456"})
    assert loaded.secret_values() == {"MQTT_PASSWORD": "inline-pass-123", "MQTT_USERNAME": "given-user-456"}
    assert redacted("user given-user-456 pass inline-pass-123") == "user *** pass ***"
    document = str(loaded.document())
    assert "inline-pass-123" not in document and "given-user-456" not in document


def test_mqtt_secrets_from_an_airflow_connection(set_connection: Any) -> None:
    set_connection(
        "broker",
        conn_type="mqtt",
        host="127.0.0.1",
        port=18830,
        login="sensor-user",
        password="broker-pass-789",
        extra={"ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
    )
    secrets = FluvioHook.mqtt_secrets_from_connection("broker")
    assert secrets == {
        "MQTT_USERNAME": "sensor-user",
        "MQTT_PASSWORD": "broker-pass-789",
        "MQTT_URL": "mqtt://127.0.0.1:18830",
        "MQTT_CA_CERT": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    }
    assert redacted("pw=broker-pass-789") == "pw=***"


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("::1", 1883, "mqtt://[::1]:1883"),
        ("::1", None, "mqtt://[::1]:1883"),
        ("[::1]:1884", 1883, "mqtt://[::1]:1884"),
        ("broker:1884", 1883, "mqtt://broker:1884"),
        ("mqtts://broker", 8884, "mqtts://broker:8884"),
    ],
)
def test_mqtt_url_from_host_and_port(set_connection: Any, host: str, port: int | None, url: str) -> None:
    set_connection("v6_broker", conn_type="mqtt", host=host, port=port)
    assert FluvioHook.mqtt_secrets_from_connection("v6_broker") == {"MQTT_URL": url}


def test_mqtts_connection_gives_a_tls_url(set_connection: Any) -> None:
    set_connection("tls_broker", conn_type="mqtts", host="broker.example", port=8883)
    assert FluvioHook.mqtt_secrets_from_connection("tls_broker") == {
        "MQTT_URL": "mqtts://broker.example:8883"
    }


def test_kubernetes_options_and_a_secret_kube_config(set_connection: Any) -> None:
    kube_config = "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: kube-token-3391}}]\n"
    set_connection(
        "fluvio_default",
        conn_type="fluvio",
        extra={"runtime": "kubernetes", "kube_config": kube_config, "image_tag": "0.3.1"},
    )
    assert FluvioHook().runtime_options() == {"kube_config": kube_config, "image_tag": "0.3.1"}
    assert "kube-token-3391" not in redacted(f"config: {kube_config}")


# ---------------------------------------------------------------------------- status judgement


@pytest.mark.parametrize(
    ("status", "target", "outcome"),
    [
        (ConnectorStatus.PENDING, "Running", "waiting"),
        (ConnectorStatus.RUNNING, "Running", "reached"),
        (ConnectorStatus.STOPPED, "Running", "reached"),
        (ConnectorStatus.RUNNING, "Stopped", "waiting"),
        (ConnectorStatus.STOPPED, "stopped", "reached"),
        (ConnectorStatus.FAILED, "Running", "failed"),
    ],
)
def test_check_connector(
    scripted_runtime: Any, seed_config: dict[str, Any], status: ConnectorStatus, target: str, outcome: str
) -> None:
    scripted_runtime(statuses=[status], reason="crash loop: exit code 2", log=["line one", "line two"])
    hook = FluvioHook()
    hook.create_connector(seed_config)
    check = hook.check_connector("hook-test", target)
    assert check.outcome == outcome
    assert check.xcom()["status"] == status.value


def test_failed_check_carries_the_reason_and_log_tail(
    scripted_runtime: Any, seed_config: dict[str, Any]
) -> None:
    scripted_runtime(
        statuses=[ConnectorStatus.FAILED],
        reason="crash loop: topic gone",
        log=[f"log line {i}" for i in range(30)],
    )
    hook = FluvioHook()
    hook.create_connector(seed_config)
    check = hook.check_connector("hook-test", log_tail=3)
    assert check.message == (
        "connector hook-test is Failed: crash loop: topic gone\n"
        "last 3 log lines of hook-test:\n  log line 27\n  log line 28\n  log line 29"
    )
    assert hook.check_connector("hook-test", "Running", fail_on_failed=False).outcome == "waiting"


def test_missing_connector(scripted_runtime: Any, seed_config: dict[str, Any]) -> None:
    scripted_runtime()
    hook = FluvioHook()
    check = hook.check_connector("never-made")
    assert (check.outcome, check.message) == (
        "failed",
        "connector never-made not found; it was never created or has been deleted",
    )
    assert hook.check_connector("never-made", fail_on_missing=False).outcome == "waiting"
    with pytest.raises(ConnectorNotFoundError):
        hook.delete_connector("never-made")
    assert hook.delete_connector("never-made", ignore_missing=True) is False


def test_unknown_target_status_is_named() -> None:
    with pytest.raises(
        ConfigError, match="unknown connector status 'Done'; expected one of: Pending, Running"
    ):
        FluvioHook().check_connector("x", "Done")


# ---------------------------------------------------------------------------- topics and records


def test_produce_and_read_records() -> None:
    hook = FluvioHook()
    with pytest.raises(TopicNotFoundError):
        hook.produce("hook-records", ["x"])
    assert (
        hook.produce(
            "hook-records", ["plain", ("k1", "keyed"), {"value": "dict"}, {"n": 1}], create_topic=True
        )
        == 4
    )
    records = hook.read_records("hook-records")
    assert [(r.offset, r.key_text(), r.value_text()) for r in records] == [
        (0, None, "plain"),
        (1, "k1", "keyed"),
        (2, None, "dict"),
        (3, None, '{"n":1}'),
    ]
    assert hook.list_topics() == ["hook-records"] and hook.end_offset("hook-records") == 4
    assert [r.value_text() for r in hook.read_records("hook-records", offset=2, max_records=1)] == ["dict"]


def test_wait_for_records_waits_and_gives_up() -> None:
    hook = FluvioHook()
    hook.create_topic("hook-wait")
    producer = threading.Timer(0.3, lambda: FluvioHook().produce("hook-wait", ["late-1", "late-2"]))
    producer.start()
    try:
        got = hook.wait_for_records("hook-wait", 2, timeout=10, poll_interval=0.05)
    finally:
        producer.join()
    assert [r.value_text() for r in got] == ["late-1", "late-2"]
    assert len(hook.wait_for_records("hook-wait", 5, timeout=0.2, poll_interval=0.05)) == 2
    with pytest.raises(TopicNotFoundError):
        hook.wait_for_records("hook-no-such-topic", 1, timeout=0.2, poll_interval=0.05)
    hook.delete_topic("hook-wait")
    assert not hook.topic_exists("hook-wait")


def test_create_topic_with_fluvio_s_retention_options() -> None:
    from fluvio_connectors.topics import Retention, open_topics

    hook = FluvioHook()
    assert hook.create_topic("kept", retention_time="2h", max_partition_size="1 MiB", segment_size=4096)
    topics = open_topics(hook.settings)
    try:
        assert [i.retention for i in topics.topic_infos()] == [Retention(7200, 1024**2, 4096)]
    finally:
        topics.close()
    with pytest.raises(ConfigError, match="retention-time: expected a duration"):
        hook.create_topic("bad", retention_time="soon")
    assert not hook.topic_exists("bad")
