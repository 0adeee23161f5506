"""The Connectors app's JSON API as the page uses it: list, create (validated first), status, config,
logs, records, delete; what it refuses, and what never reaches a browser."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from ui_testing import UiApp

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from airflow_provider_fluvio.ui.service import RECORD_BYTES, RECORDS, ConnectorService, record_view
from fluvio_connectors.topics import Record

SEED_TEST_CONNECTOR = (
    "version: v1\nname: {name}\ntype: test-connector\ntopic: {name}\ncreate_topic: true\ndirection: source\n"
    "parameters:\n  topic: {name}\n  timeout: {timeout}\n"
)


def _config(name: str, timeout: int = 100) -> str:
    return SEED_TEST_CONNECTOR.format(name=name, timeout=timeout)


def _connector(app: UiApp, name: str, user: str = "admin", **query: Any) -> Any:
    answer = app.get(f"/api/connectors/{name}", user, params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_create_watch_and_delete_a_connector(ui_app: UiApp) -> None:
    """The seed's test-connector from YAML: validated, created, Running with its config (as stored),
    its log and its records; deleted, its topic stays."""
    name = "ui-api-test"
    dry_run = ui_app.post("/api/connectors", {"config": _config(name), "dry_run": True}, "admin")
    assert dry_run.status_code == 200 and dry_run.json()["valid"] is True
    assert LocalRuntime().list() == []  # validating creates nothing

    created = ui_app.post("/api/connectors", {"config": _config(name)}, "admin")
    assert created.status_code == 201, created.text
    assert created.json()["connector"]["name"] == name

    running = ui_app.wait_for(f"{name} Running", lambda: (
        c := _connector(ui_app, name, config="true"))["connector"]["status"] == "Running" and c)
    assert running["connector"]["type"] == "test-connector" and running["connector"]["direction"] == "source"
    assert running["runtime"] == "local"
    assert running["config"].startswith("version: v1\nname: ui-api-test\ntype: test-connector\n")
    assert "config" not in _connector(ui_app, name)  # only asked for once by the page

    listed = ui_app.get("/api/connectors", "admin").json()
    assert [row["name"] for row in listed["connectors"]] == [name]

    records = ui_app.wait_for("records in its topic", lambda: (
        r := ui_app.get(f"/api/connectors/{name}/records", "admin").json())["records"] and r)
    assert records["exists"] is True and records["topic"] == name
    values = [r["value"]["text"] for r in records["records"]]
    assert values == [f"Hello, Fluvio! - {r['offset'] + 1}" for r in records["records"]]

    logs = ui_app.wait_for("its log", lambda: (
        lines := ui_app.get(f"/api/connectors/{name}/logs?tail=50", "admin").json()["lines"]) and lines)
    assert any(f"test-connector[{name}]: starting" in line for line in logs), logs

    again = ui_app.post("/api/connectors", {"config": _config(name)}, "admin")
    assert again.status_code == 409 and name in again.json()["detail"]

    deleted = ui_app.delete(f"/api/connectors/{name}", "admin")
    assert deleted.status_code == 200 and deleted.json() == {"name": name, "deleted": True}
    assert ui_app.get(f"/api/connectors/{name}", "admin").status_code == 404
    assert ui_app.delete(f"/api/connectors/{name}", "admin").status_code == 404
    assert FluvioHook().read_records(name)  # the topic and its records stay


def test_configs_are_validated_as_the_cli_validates_them(ui_app: UiApp) -> None:
    """Each bad input: one line naming what is wrong, the right status, nothing created."""
    from fluvio_connectors.config import load_config_text
    from fluvio_connectors.errors import ConfigError

    deep = "a: " + "[" * 200 + "]" * 200
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    cases = {
        "parameters.count": _config("bad-count").replace("timeout: 100", "count: lots"),
        "not a valid connector name": _config("Bad_Name"),
        "expected a mapping": "/etc/passwd",  # text, never a path on the API server
        "nested": deep,
        "values": laughs,
        "given twice": _config("dup") + "name: dup2\n",
        "unknown connector type": _config("t").replace("type: test-connector", "type: kafka"),
    }
    for expected, text in cases.items():
        answer = ui_app.post("/api/connectors", {"config": text}, "admin")
        assert answer.status_code == 400, (expected, answer.text)
        detail = answer.json()["detail"]
        assert "\n" not in detail and len(detail) <= 400, detail
        assert expected in detail, (expected, detail)
        # The same line as the CLI's validation gives for that text.
        with pytest.raises(ConfigError) as cli:
            load_config_text(text, secrets={}, origin="config")
        assert detail == str(cli.value)
    assert "root:" not in json.dumps(ui_app.post("/api/connectors", {"config": "/etc/passwd"}, "admin").json())
    assert LocalRuntime().list() == []


def test_request_shapes_and_sizes_are_checked(ui_app: UiApp) -> None:
    big = "a: " + "x" * (1024 * 1024)
    answer = ui_app.post("/api/connectors", {"config": big}, "admin")
    assert answer.status_code == 400 and answer.json()["detail"] == "config: larger than 1 MiB; expected a YAML config of at most 1 MiB"
    huge = ui_app.client.post("/fluvio/api/connectors", content=b"x" * (8 * 1024 * 1024), headers=ui_app.bearer("admin"))
    assert huge.status_code == 413
    checks = {
        "expected a JSON object": b"[1, 2]",
        "unknown field(s) 'name'": json.dumps({"config": _config("x"), "name": "x"}).encode(),
        "config: expected the YAML text": json.dumps({"config": 7}).encode(),
        "replicas: expected a whole number from 1 to 16, got 0": json.dumps({"config": _config("x"), "replicas": 0}).encode(),
        "secrets: '../x' is not a secret name": json.dumps({"config": _config("x"), "secrets": {"../x": "v"}}).encode(),
        "dry_run: expected true or false": json.dumps({"config": _config("x"), "dry_run": "yes"}).encode(),
    }
    for expected, body in checks.items():
        answer = ui_app.client.post("/fluvio/api/connectors", content=body, headers={**ui_app.bearer("admin"), "Content-Type": "application/json"})
        assert answer.status_code == 400 and expected in answer.json()["detail"], (expected, answer.text)
    assert ui_app.get("/api/connectors/..%2Fetc", "admin").status_code in (400, 404)
    bad_name = ui_app.get("/api/connectors/Not_A_Name", "admin")
    assert bad_name.status_code == 400 and "is not a valid connector name" in bad_name.json()["detail"]
    assert ui_app.get("/api/connectors?conn=" + "x" * 300, "admin").status_code == 400
    assert ui_app.get("/api/connectors?conn=a%20b", "admin").status_code == 400
    assert ui_app.get("/api/connectors/x/logs?tail=100000", "admin").status_code == 422
    assert LocalRuntime().list() == []


def test_only_fluvio_connections_are_used(ui_app: UiApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://user:pw@db.example:5432/dw")
    answer = ui_app.get("/api/connectors?conn=warehouse", "admin")
    assert answer.status_code == 404 and answer.json()["detail"] == "connection 'warehouse' is not a fluvio connection"
    assert "pw" not in answer.text
    missing = ui_app.get("/api/connectors?conn=nowhere", "admin")
    assert missing.status_code == 404 and missing.json()["detail"] == "no connection 'nowhere'"
    assert [c["id"] for c in ui_app.get("/api/connections", "admin").json()["connections"]] == ["fluvio_default"]


def test_no_secret_reaches_the_browser(ui_app: UiApp) -> None:
    """An MQTT connector given its password and URL as secrets: the config shows their names, the
    list, status, log and records never their values."""
    password, url = "s3cret-Pa55word", "mqtt://ingest:s3cret-Pa55word@127.0.0.1:1"
    config = (
        "name: ui-mqtt\ntype: mqtt\ntopic: ui-mqtt\ncreate_topic: true\n"
        "parameters:\n  mqtt-topic: sensors/#\n  timeout: 1\nsecrets: [MQTT_URL, MQTT_PASSWORD]\n"
    )
    missing = ui_app.post("/api/connectors", {"config": config, "secrets": {"MQTT_URL": url}}, "admin")
    assert missing.status_code == 400 and "MQTT_PASSWORD" in missing.json()["detail"], missing.text
    assert password not in missing.text
    created = ui_app.post("/api/connectors", {"config": config, "secrets": {"MQTT_URL": url, "MQTT_PASSWORD": password}}, "admin")
    assert created.status_code == 201, created.text
    # Its broker is unreachable: the connector reports why, which is where a URL would show.
    ui_app.wait_for("a reason from the connector", lambda: _connector(ui_app, "ui-mqtt")["connector"]["reason"] not in (None, "starting"))
    ui_app.wait_for("log lines", lambda: len(ui_app.get("/api/connectors/ui-mqtt/logs", "admin").json()["lines"]) > 1)
    answers = [
        created.text,
        ui_app.get("/api/connectors", "admin").text,
        ui_app.get("/api/connectors/ui-mqtt?config=true", "admin").text,
        ui_app.get("/api/connectors/ui-mqtt/logs", "admin").text,
        ui_app.get("/api/connectors/ui-mqtt/records", "admin").text,
    ]
    stored = _connector(ui_app, "ui-mqtt", config="true")["config"]
    assert "secrets:\n- MQTT_PASSWORD\n- MQTT_URL\n" in stored
    for answer in answers:
        assert password not in answer and "ingest:" not in answer, answer


def test_log_lines_and_reasons_are_masked_and_cut() -> None:
    from airflow_provider_fluvio.hooks.fluvio import ConnectionFields
    from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorStatus
    from airflow_provider_fluvio.ui.service import LOG_LINE_CHARS, _cut, _redactor, connector_row

    hook = FluvioHook("fluvio_k8s")
    hook._fields = ConnectionFields(conn_id="fluvio_k8s", extra={"kube_config": "token: abcdef123456"})
    redact = _redactor(hook)
    assert redact("connecting to mqtts://user:hunter22@broker:8883/x failed") == "connecting to mqtts://user:***@broker:8883/x failed"
    assert redact("bad kube config: token: abcdef123456") == "bad kube config: ***"
    info = ConnectorInfo(name="n", type="mqtt", topic="t", status=ConnectorStatus.FAILED, runtime="local",
                         reason="cannot connect to mqtt://a:b0b0b0@h:1")
    assert connector_row(info, redact)["reason"] == "cannot connect to mqtt://a:***@h:1"
    assert len(_cut("x" * 10_000, LOG_LINE_CHARS)) < LOG_LINE_CHARS + 50


def test_records_are_the_newest_twenty_each_capped() -> None:
    text = record_view(Record(offset=3, key=b"k", value=b"v" * 5000, timestamp=1_700_000_000.0))
    assert text["value"] == {"text": "v" * RECORD_BYTES, "binary": False, "truncated": True}
    assert text["size"] == 5000 and text["key"]["text"] == "k" and text["timestamp"].startswith("2023-11-14T22:13:20")
    binary = record_view(Record(offset=0, key=None, value=b"\xff\x00\x01", timestamp=0.0))
    assert binary["value"] == {"text": "ff 00 01", "binary": True, "truncated": False}
    # A cut inside a multi-byte character is still text.
    cut = record_view(Record(offset=0, key=None, value="é".encode() * 1000, timestamp=0.0))
    assert cut["value"]["binary"] is False and cut["value"]["truncated"] is True


def test_the_topic_panel_shows_the_newest_records(ui_app: UiApp) -> None:
    hook = FluvioHook()
    hook.produce("ui-records", [f"record {i}" for i in range(45)] + [b"\xfe\xff"], create_topic=True)
    created = ui_app.post("/api/connectors", {"config": _config("ui-records", 3_600_000)}, "admin")
    assert created.status_code == 201, created.text
    answer = ui_app.get("/api/connectors/ui-records/records", "admin").json()
    shown = answer["records"]
    assert len(shown) == RECORDS and answer["end"] >= 46
    assert [r["value"]["text"] for r in shown[:-1]][:5] == [f"record {i}" for i in range(26, 31)]
    assert shown[-1]["value"] == {"text": "fe ff", "binary": True, "truncated": False}


def test_a_runtime_that_does_not_answer_gives_504_in_time(ui_app: UiApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's thread waits on a runtime that never answers; the request does not."""
    service = ConnectorService(call_seconds=0.5, hook_seconds=0.0)
    release = threading.Event()

    def stuck() -> list[Any]:
        release.wait(30)
        return []

    hook = FluvioHook()
    monkeypatch.setattr(hook, "list_connectors", stuck)
    monkeypatch.setattr(service, "hook", lambda conn_id: hook)
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from airflow_provider_fluvio.ui.app import create_app

    root = FastAPI()
    root.mount("/fluvio", create_app(service))
    try:
        with TestClient(root) as client:
            start = time.monotonic()
            answer = client.get("/fluvio/api/connectors", headers=ui_app.bearer("admin"))
            took = time.monotonic() - start
        assert answer.status_code == 504 and answer.json()["detail"] == "listing the connectors of fluvio_default: no answer within 0.5 s"
        assert took < 10
    finally:
        release.set()
        service.close()


def test_an_error_never_repeats_a_secret_the_request_gave(ui_app: UiApp, ui_service: ConnectorService,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a runtime's or a library's message holds, the secrets of the request are masked."""
    from fluvio_connectors.errors import BackendError

    def leaky(conn_id: str, text: str, secrets: dict[str, str], replicas: int) -> Any:
        raise BackendError(f"the cluster refused Secret data {secrets['API_TOKEN']}")

    monkeypatch.setattr(ui_service, "create", leaky)
    answer = ui_app.post("/api/connectors", {"config": _config("leak"), "secrets": {"API_TOKEN": "tok-1234567"}}, "admin")
    assert answer.status_code == 502
    assert answer.json()["detail"] == "creating the connector on fluvio_default: the cluster refused Secret data ***"
