"""The operators in real DAG runs (dag.test on SQLite, real local connectors, the embedded log):
the three config forms and their templating, XCom without secrets, secrets masked, bad configs
failing the task with the one-line message, produce and consume."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.operators.connector import (
    FluvioConsumeOperator,
    FluvioCreateConnectorOperator,
    FluvioDeleteConnectorOperator,
    FluvioProduceOperator,
    dns_label,
)

TEMPLATE = """\
version: latest
name: {{ params.prefix }}-{{ params.kind }}
type: test-connector
topic: {{ params.prefix }}-{{ params.kind }}
create_topic: true
parameters:
  count: {{ params.count }}
  timeout: 10ms
"""


def make_dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        user_defined_filters={"dns_label": dns_label},
        **kwargs,
    )


def test_config_as_file_absolute_path_string_and_dict(run_dag: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    searched = tmp_path / "templates"
    searched.mkdir()
    (searched / "connector.yaml").write_text(TEMPLATE)
    elsewhere = tmp_path / "elsewhere" / "connector.yml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(TEMPLATE)
    params = {"prefix": "ops", "count": 3}
    with make_dag("fluvio_test_config_forms", template_searchpath=[str(searched)], params=params) as dag:
        FluvioCreateConnectorOperator(
            task_id="from_file", config="connector.yaml", params={"kind": "file"}, wait_for_running=True
        )
        FluvioCreateConnectorOperator(
            task_id="from_absolute_path", config=str(elsewhere), params={"kind": "abs"}
        )
        FluvioCreateConnectorOperator(task_id="from_string", config=TEMPLATE, params={"kind": "string"})
        FluvioCreateConnectorOperator(
            task_id="from_dict",
            config={
                "name": "{{ params.prefix }}-dict",
                "type": "test",
                "topic": "{{ params.prefix }}-dict",
                "create_topic": True,
                "parameters": {"count": "{{ params.count }}", "timeout": 10},
            },
        )
    result = run_dag(dag)
    assert result.state == "success", result.task_states
    logged = capfd.readouterr().out
    # The create log names the file a config came from, not the "<string>" it was rendered into.
    assert "Creating connector.yaml: connector ops-file (" in logged
    assert f"Creating {elsewhere}: connector ops-abs (" in logged
    assert "Creating <string>: connector ops-string (" in logged  # an inline YAML string is one
    for task_id, kind in (
        ("from_file", "file"),
        ("from_absolute_path", "abs"),
        ("from_string", "string"),
        ("from_dict", "dict"),
    ):
        xcom = result.xcom(task_id)
        assert (xcom["name"], xcom["topic"], xcom["type"]) == (f"ops-{kind}", f"ops-{kind}", "test-connector")
        # The stored config keeps parameters as written: YAML's 3 is a number, the dict's template a string.
        assert xcom["config"]["parameters"]["count"] == ("3" if kind == "dict" else 3)
    # wait_for_running waited: Running, or already finished (3 records at 10 ms)
    assert result.xcom("from_file")["status"] in ("Running", "Stopped")
    # the file was rendered: the UI's Rendered Template tab shows the YAML with the values in
    assert "name: ops-file" in result.rendered("from_file")["config"]
    hook = FluvioHook()
    for name in ("ops-file", "ops-abs", "ops-string", "ops-dict"):
        assert [r.value_text() for r in hook.wait_for_records(name, 3, timeout=30)] == [
            f"Hello, Fluvio! - {i}" for i in (1, 2, 3)
        ]


def test_secrets_reach_the_connector_masked_and_never_in_xcom(run_dag: Any, set_connection: Any) -> None:
    from airflow.providers.common.compat.sdk import redact

    # The CA certificate sits in an extra Airflow does not treat as sensitive, and the templated
    # secret is plain text: only the provider's own masking hides them.
    set_connection(
        "broker_creds",
        conn_type="mqtt",
        host="127.0.0.1",
        port=1883,
        login="reader",
        password="conn-pass-6012",
        extra={"ca_cert": "ca-text-4417"},
    )
    config = {
        "name": "secret-mqtt",
        "type": "mqtt",
        "topic": "secret-mqtt",
        "create_topic": True,
        "parameters": {"mqtt-topic": "s/#"},
    }
    assert redact("ca-text-4417 templated-key-9273") == "ca-text-4417 templated-key-9273"
    with make_dag("fluvio_test_secrets") as dag:
        create = FluvioCreateConnectorOperator(
            task_id="create",
            config=config,
            mqtt_conn_id="broker_creds",
            secrets={"MQTT_CLIENT_KEY": "{{ 'templated-key-' ~ 9273 }}"},
        )
        create >> FluvioDeleteConnectorOperator(task_id="delete", connector_name="secret-mqtt")
    result = run_dag(dag)
    assert result.task_states == {"create": "success", "delete": "success"}
    # Registered with Airflow's secrets masker: task log lines show *** in their place.
    assert redact("conn-pass-6012 ca-text-4417 templated-key-9273") == "*** *** ***"
    # ... but not the broker's address: a reason naming it must stay readable.
    assert redact("cannot connect to mqtt://127.0.0.1:1883") == "cannot connect to mqtt://127.0.0.1:1883"
    for value in ("conn-pass-6012", "ca-text-4417", "templated-key-9273"):
        assert value not in json.dumps(result.xcom("create"))
    assert result.xcom("create")["config"]["secrets"] == [
        "MQTT_CA_CERT",
        "MQTT_CLIENT_KEY",
        "MQTT_PASSWORD",
        "MQTT_URL",
        "MQTT_USERNAME",
    ]
    # The UI's Rendered Template tab never shows a secret value.
    assert result.rendered("create")["secrets"] == {"MQTT_CLIENT_KEY": "***"}


def test_bad_config_fails_the_task_with_one_line(run_dag: Any, tmp_path: Path, failures: Any) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    record, seen = failures
    (tmp_path / "bad.yaml").write_text(TEMPLATE.replace("count:", "cont:"))
    with make_dag(
        "fluvio_test_bad_config",
        template_searchpath=[str(tmp_path)],
        params={"prefix": "bad", "kind": "x", "count": 2},
    ) as dag:
        FluvioCreateConnectorOperator(
            task_id="create", config="bad.yaml", retries=3, on_failure_callback=record
        )
    result = run_dag(dag)
    assert (result.state, result.task_states["create"]) == ("failed", "failed")  # no retry: bad stays bad
    error = seen["create"]
    assert isinstance(error, AirflowFailException)
    assert str(error) == (
        "bad.yaml: parameters.cont: unknown key; did you mean count? "
        "(expected one of: timeout, count, topic, fluvio-topic)"
    )
    assert error.__cause__ is None and error.__suppress_context__  # no chained loader traceback
    assert FluvioHook().list_connectors() == []


def test_existing_name_and_missing_delete_fail_clearly(
    run_dag: Any, seed_config: dict[str, Any], failures: Any
) -> None:
    record, seen = failures
    FluvioHook().create_connector(seed_config)
    with make_dag("fluvio_test_exists", default_args={"on_failure_callback": record}) as dag:
        FluvioCreateConnectorOperator(task_id="create_again", config=seed_config)
        FluvioDeleteConnectorOperator(task_id="delete_unknown", connector_name="no-such-connector")
        FluvioDeleteConnectorOperator(task_id="delete_ignored", connector_name="no-such", ignore_missing=True)
    result = run_dag(dag)
    assert result.task_states == {
        "create_again": "failed",
        "delete_unknown": "failed",
        "delete_ignored": "success",
    }
    assert str(seen["create_again"]) == "connector hook-test already exists"
    assert str(seen["delete_unknown"]) == "connector no-such-connector not found"
    assert result.xcom("delete_ignored") == {"name": "no-such", "deleted": False}


def test_produce_and_consume(run_dag: Any, failures: Any) -> None:
    record, seen = failures
    with make_dag(
        "fluvio_test_produce_consume",
        params={"topic": "pc-topic"},
        default_args={"on_failure_callback": record},
    ) as dag:
        produce = FluvioProduceOperator(
            task_id="produce",
            topic="{{ params.topic }}",
            create_topic=True,
            records=["one", ("k2", "two"), {"key": "k3", "value": {"n": 3}}],
        )
        lines = FluvioProduceOperator(task_id="lines", topic="{{ params.topic }}", records="four\nfive")
        values = FluvioConsumeOperator(task_id="values", topic="{{ params.topic }}", count=5, timeout=10)
        records = FluvioConsumeOperator(
            task_id="records", topic="{{ params.topic }}", offset="3", output_format="records"
        )
        too_many = FluvioConsumeOperator(task_id="too_many", topic="{{ params.topic }}", count=9, timeout=0.5)
        produce >> lines >> [values, records, too_many]
    result = run_dag(dag)
    assert result.xcom("produce") == {"topic": "pc-topic", "records": 3}
    assert result.xcom("values") == ["one", "two", '{"n":3}', "four", "five"]
    assert [(r["offset"], r["key"], r["value"]) for r in result.xcom("records")] == [
        (3, None, "four"),
        (4, None, "five"),
    ]
    assert result.task_states["too_many"] == "failed"
    assert str(seen["too_many"]) == "topic pc-topic: 5 of 9 records from offset 0 arrived within 0.5 s"


def test_consumed_values_cross_to_xcom_losslessly_and_a_result_too_large_commits_nothing(
    run_dag: Any, failures: Any
) -> None:
    """Issue 22: bytes that are not UTF-8 became U+FFFD in XCom while the consumer's position moved
    past them; one 20 MB record became a 125 MB XCom row."""
    record, seen = failures
    blob = bytes([0xFF, 0x00, 0x80])
    hook = FluvioHook(None)
    hook.create_topic("bin")
    hook.produce("bin", [blob, "text"])
    with make_dag("fluvio_test_consume_bytes", default_args={"on_failure_callback": record,
                                                               "trigger_rule": "all_done"}) as dag:
        lossless = FluvioConsumeOperator(task_id="lossless", topic="bin", consumer="lossless", output_format="records")
        strict = FluvioConsumeOperator(task_id="strict", topic="bin", consumer="strict")
        lossy = FluvioConsumeOperator(task_id="lossy", topic="bin", consumer="lossy", decode_errors="replace")
        capped = FluvioConsumeOperator(task_id="capped", topic="bin", consumer="capped", decode_errors="replace",
                                       max_xcom_bytes=20)
        lossless >> strict >> lossy >> capped
    result = run_dag(dag)
    assert result.task_states == {"lossless": "success", "strict": "failed", "lossy": "success", "capped": "failed"}
    first, second = result.xcom("lossless")
    assert (first["value"], first["value_encoding"]) == (base64.b64encode(blob).decode(), "base64")
    assert base64.b64decode(first["value"]) == blob and (second["value"], second["value_encoding"]) == ("text", "utf-8")
    assert result.xcom("lossy") == ["\ufffd\x00\ufffd", "text"]
    assert str(seen["strict"]) == ('topic bin: the value at offset 0 is not UTF-8 text; use output_format="records" '
                                   '(such values as base64, lossless) or decode_errors="replace" (U+FFFD in their '
                                   "place); nothing was committed")
    assert re.fullmatch(r"topic bin: 2 record\(s\) from offset 0 make \d+ bytes of XCom, over max_xcom_bytes \(20\); "
                        r"read fewer at a time \(max_records, count\) or raise max_xcom_bytes; nothing was committed",
                        str(seen["capped"]))
    assert [hook.consumer_position("bin", c) for c in ("lossless", "strict", "lossy", "capped")] == [2, 0, 2, 0]


def test_secrets_never_reach_the_rendered_fields_or_xcom(run_dag: Any) -> None:
    """Issue 22: a password written in mqtt-url was in the task's rendered template fields (the
    metadata database and the UI); a secret value also used as client-id was in XCom unmasked."""
    config = """\
name: hidden
type: mqtt
topic: hidden
create_topic: true
parameters:
  mqtt-url: "mqtt://reader:urlpass-5521@127.0.0.1:9"
  mqtt-topic: s/#
  client-id: reused-secret-8810
secrets:
  MQTT_PASSWORD: inline-secret-3307
"""
    with make_dag("fluvio_test_rendered_secrets") as dag:
        create = FluvioCreateConnectorOperator(task_id="create", config=config,
                                               secrets={"MQTT_USERNAME": "reused-secret-8810"})
        create >> FluvioDeleteConnectorOperator(task_id="delete", connector_name="hidden")
    result = run_dag(dag)
    assert result.task_states == {"create": "success", "delete": "success"}
    rendered = json.dumps(result.rendered("create"))
    assert ":***@127.0.0.1:9" in rendered  # the password masked, the rest of the URL readable
    for value in ("urlpass-5521", "inline-secret-3307", "reused-secret-8810"):
        assert value not in rendered
        assert value not in json.dumps(result.xcom("create"))
    assert result.xcom("create")["config"]["parameters"]["client-id"] == "***"


@pytest.mark.timeout(120)  # far below the operator's timeout: it never waits for an offset
def test_consume_counts_records_where_offsets_have_no_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a Fluvio partition some offsets hold no record: count records, go on after the last."""
    import threading

    from fluvio_fakes import FakePartition, fake_cluster, in_thread_helper

    cluster = fake_cluster()
    cluster.topics["gappy"] = part = FakePartition(skip_after=700, skip=5)  # a stream skips, too
    holes = {3, 4, 1_200}
    part.fill(1_000, holes=holes)
    in_thread_helper(monkeypatch, cluster)
    monkeypatch.setenv("FLUVIO_ENDPOINT", "127.0.0.1:9003")
    present = [f"v{i}" for i in range(1_500) if i not in holes]

    more = threading.Timer(0.5, lambda: part.fill(1_500, holes=holes, start=1_000))  # while it waits
    more.start()
    every = FluvioConsumeOperator(task_id="every", topic="gappy", count=len(present), timeout=3_600)
    assert every.execute({}) == present
    more.join()
    from_a_hole = FluvioConsumeOperator(task_id="from_a_hole", topic="gappy", offset=3, count=3, timeout=3_600)
    assert from_a_hole.execute({}) == ["v5", "v6", "v7"]


def test_produce_to_a_missing_topic_names_it(seed_config: dict[str, Any]) -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    with pytest.raises(AirflowException, match="topic nowhere not found"):
        FluvioProduceOperator(task_id="p", topic="nowhere", records=["x"]).execute({})


def test_operators_do_no_io_when_the_dag_is_parsed(tmp_path: Path) -> None:
    state = tmp_path / "never-created"
    FluvioCreateConnectorOperator(
        task_id="c", config="x.yaml", hook_params={"state_dir": str(state)}, fluvio_conn_id="undefined_conn"
    )
    FluvioConsumeOperator(task_id="r", topic="t", hook_params={"state_dir": str(state)})
    assert not state.exists()


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("plain-name", "plain-name"),
        ("Manual__2024-01-01T00:00:00+00:00", "manual-2024-01-01t00-00-00-00-00-"),
    ],
)
def test_dns_label(text: str, label: str) -> None:
    made = dns_label(text)
    assert made.startswith(label) and len(made) <= 63
    assert dns_label("a" * 100) != dns_label("a" * 99) and len(dns_label("a" * 100)) == 63
    assert dns_label("___") and dns_label("___").isalnum()


def test_an_absolute_config_file_over_1_mib_fails_the_task_before_rendering(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: a\n# " + "x" * (2 * 1024 * 1024) + "\n")
    from airflow.providers.common.compat.sdk import AirflowFailException

    create = FluvioCreateConnectorOperator(task_id="create", config=str(big))
    with pytest.raises(AirflowFailException, match=r"big\.yaml: larger than 1 MiB; expected a YAML config file"):
        create.render_template(create.config, {})  # type: ignore[arg-type]
