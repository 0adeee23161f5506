"""What a user does in the Airflow UI, in a real headless Chromium: the Fluvio connection form and its
Test button, then triggering the test-connector example DAG and watching the run succeed.

Every step leaves a screenshot under ``test-artifacts/e2e/`` (listed with what it shows in
``test-artifacts/e2e/index.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import pytest
from airflow_api import AirflowApi
from airflow_cluster import ADMIN_USER, AirflowCluster
from e2e_broker import mosquitto_with_password
from e2e_browser import Screenshots, sign_in

from airflow_provider_fluvio.get_provider_info import get_provider_info

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

DAG_ID = "example_fluvio_test_connector"


def _connection_type(name: str) -> dict[str, Any]:
    (entry,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == name]
    return dict(entry)


def login(page: Page, airflow: AirflowCluster, shots: Screenshots) -> None:
    """Sign in on the SimpleAuthManager's login page as the admin."""
    sign_in(page, airflow, shots, ADMIN_USER)


def test_fluvio_connection_form_save_and_test(
    page: Page, screenshots: Screenshots, airflow: AirflowCluster, api: AirflowApi
) -> None:
    """Admin -> Connections -> Add: the Fluvio type shows its labelled fields; saved, Test says success."""
    from playwright.sync_api import expect

    conn_id = "fluvio_ui_e2e"
    declared = _connection_type("fluvio")
    login(page, airflow, screenshots)

    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(conn_id)
    conn_type = dialog.get_by_role("combobox", name="Connection Type")
    conn_type.click()
    conn_type.fill("Fluvio")
    page.get_by_role("option", name=declared["hook-name"], exact=True).click()

    # Standard fields: relabelled host and port, hidden login/password/schema.
    behaviour = declared["ui-field-behaviour"]
    for field, label in behaviour["relabeling"].items():
        expect(dialog.get_by_label(label, exact=True)).to_be_visible()
        placeholder = behaviour["placeholders"].get(field)
        if placeholder:
            expect(dialog.get_by_label(label, exact=True)).to_have_attribute("placeholder", placeholder)
    for hidden in ("Login", "Password", "Schema"):
        expect(dialog.get_by_label(hidden, exact=True)).to_have_count(0)
    # Host and port stay empty, as the form suggests for the embedded topic log. (Airflow 3.3.2's
    # list posts an empty port as 0 when testing; the provider's plugin makes that the stored NULL.)
    screenshots.take(
        "connection-type-fluvio",
        "the Add Connection dialog with type Fluvio: relabelled 'Fluvio SC host' and 'Fluvio SC port', both "
        "empty with their placeholders (the embedded topic log), no login/password/schema",
        whole=dialog,
    )

    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    fields = {name: spec["label"] for name, spec in declared["conn-fields"].items()}
    for name, label in fields.items():
        row = dialog.get_by_role("group").filter(has_text=label)
        expect(row.first, f"conn-field {name!r} ({label!r}) is not rendered").to_be_visible()
        description = declared["conn-fields"][name].get("description")
        if description:
            expect(row.first).to_contain_text(description)
    screenshots.take(
        "connection-extra-fields",
        f"the Extra Fields of the Fluvio form: {', '.join(fields.values())}, each with its description",
        whole=dialog,
    )

    # Fill what a user of the embedded defaults would: the state directory of this deployment
    # (the one the example DAGs use) and a namespace.
    _extra_textbox(dialog, fields["state_dir"]).fill(str(airflow.fluvio_home))
    _extra_textbox(dialog, fields["namespace"]).fill("data-pipelines")
    screenshots.take(
        "connection-filled", "the Extra Fields filled in: the deployment's state directory and a namespace", whole=dialog
    )
    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text=conn_id)
    expect(row).to_be_visible()
    expect(row).to_contain_text("fluvio")
    screenshots.take("connection-saved", f"the Connections list with the new fluvio connection '{conn_id}'")

    saved = api.get(f"/connections/{conn_id}")
    extra = json.loads(saved["extra"])
    assert saved["conn_type"] == "fluvio"
    assert extra["state_dir"] == str(airflow.fluvio_home)
    assert extra["namespace"] == "data-pipelines"
    assert saved["host"] in (None, "") and saved["port"] is None  # no SC: the embedded topic log

    row.get_by_role("button", name="Test Connection").click()
    toast = page.get_by_role("status").filter(has_text="Test Connection")
    toast.wait_for()
    _wait_until_opaque(page, toast)
    text = toast.inner_text()
    screenshots.take("connection-test-result", f"the toast after pressing Test on the empty host and port: {text!r}")
    assert "Test Connection Successful" in text, text
    assert f"Connection successful. topics: embedded log at {airflow.fluvio_home / 'topics.db'}" in text, text
    expect(row).not_to_contain_text("9003")  # the list shows no port for the embedded log

    # What the button posted, through the REST API: the stored connection with port 0 is tested;
    # another port still needs its own credentials (Airflow's check stays as it is).
    as_listed = {"connection_id": conn_id, "conn_type": "fluvio", "host": "", "port": 0, "login": "",
                 "password": "", "schema": "", "extra": saved["extra"]}
    tested = api.client.post("/connections/test", json=as_listed)
    assert tested.status_code == 200 and tested.json()["status"] is True, tested.text
    elsewhere = api.client.post("/connections/test", json={**as_listed, "port": 9003})
    assert elsewhere.status_code == 400 and "differs from the stored connection" in elsewhere.text


def test_mqtt_connection_form_and_its_test_button(
    page: Page, screenshots: Screenshots, airflow: AirflowCluster, api: AirflowApi, tmp_path: Path
) -> None:
    """Admin -> Connections -> Add, type MQTT: broker, user and password of a real mosquitto that
    only lets that user in; Test from the list connects; with a wrong password it says why."""
    from playwright.sync_api import expect

    conn_id = "mqtt_ui_e2e"
    declared = _connection_type("mqtt")
    labels = declared["ui-field-behaviour"]["relabeling"]
    with mosquitto_with_password(tmp_path / "broker", "sensor-ui", "pw-ui-4711") as broker:
        login(page, airflow, screenshots)
        page.goto(f"{airflow.base_url}/connections")
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Connection ID").fill(conn_id)
        conn_type = dialog.get_by_role("combobox", name="Connection Type")
        conn_type.click()
        conn_type.fill("MQTT")
        page.get_by_role("option", name=declared["hook-name"], exact=True).click()
        dialog.get_by_label(labels["host"], exact=True).fill(broker.host)
        dialog.get_by_label(labels["port"], exact=True).fill(str(broker.port))
        dialog.get_by_label(labels["login"], exact=True).fill(broker.username)
        dialog.get_by_label("Password", exact=True).fill(broker.password)
        expect(dialog.get_by_label("Schema", exact=True)).to_have_count(0)
        dialog.get_by_role("button", name="Extra Fields", exact=True).click()
        for spec in declared["conn-fields"].values():
            expect(dialog.get_by_role("group").filter(has_text=spec["label"]).first).to_be_visible()
        screenshots.take("mqtt-connection-form", "the Add Connection dialog with type MQTT: broker host and port, "
                         "username, password, and the TLS fields under Extra Fields", whole=dialog)
        dialog.get_by_role("button", name="Save").click()
        row = page.get_by_role("row").filter(has_text=conn_id)
        expect(row).to_contain_text("mqtt")

        row.get_by_role("button", name="Test Connection").click()
        toast = page.get_by_role("status").filter(has_text="Test Connection")
        toast.wait_for()
        _wait_until_opaque(page, toast)
        text = toast.inner_text()
        screenshots.take("mqtt-connection-test", f"the toast after pressing Test on the MQTT connection: {text!r}")
        assert "Test Connection Successful" in text, text
        assert f"Connected to mqtt://{broker.host}:{broker.port} as {broker.username} and disconnected" in text, text

        # The same connection with a wrong password: Test fails and names the broker and why.
        saved = api.get(f"/connections/{conn_id}")
        body = {**{k: saved[k] for k in ("connection_id", "conn_type", "host", "port", "login", "extra")},
                "password": "not-the-password"}
        answer = api.client.post("/connections/test", json=body).json()
        assert answer["status"] is False
        assert answer["message"].startswith(f"the broker mqtt://{broker.host}:{broker.port} refused the connection"), answer
        api.remove_connection(conn_id)


def _wait_until_opaque(page: Page, element: Any) -> None:
    # Toasts fade in; a screenshot taken mid-animation shows them washed out.
    page.wait_for_function("e => getComputedStyle(e).opacity === '1'", arg=element.element_handle())


def _extra_textbox(dialog: Any, label: str) -> Any:
    # Airflow 3.3 draws the conn-fields without linking label and input, so find the input in
    # the field's group by the label text.
    return dialog.get_by_role("group").filter(has_text=label).get_by_role("textbox").first


def test_trigger_example_dag_from_ui(page: Page, screenshots: Screenshots, airflow: AirflowCluster, api: AirflowApi) -> None:
    """Open the test-connector example DAG, set its record count, press Trigger, and see the run
    succeed in the UI with exactly that many records read."""
    from playwright.sync_api import expect

    count = 7
    dag = api.wait_for_dag(DAG_ID)
    login(page, airflow, screenshots)
    page.goto(f"{airflow.base_url}/dags/{DAG_ID}")
    expect(page.get_by_role("heading", name=DAG_ID)).to_be_visible()
    screenshots.take("dag-page", f"the {DAG_ID} DAG page: its tasks and the Trigger button")

    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Trigger Dag - {DAG_ID}")).to_be_visible()
    unpause = dialog.get_by_role("checkbox", name=f"Unpause {DAG_ID} on trigger")
    if dag["is_paused"]:  # a new DAG is paused; the dialog offers to unpause it, ticked
        expect(unpause).to_be_checked()
    count_field = dialog.get_by_role("group").filter(has_text="Records to produce.").get_by_role("spinbutton")
    count_field.fill(str(count))
    screenshots.take(
        "trigger-dialog",
        f"the Trigger Dag dialog: single run, the DAG's params with count set to {count}",
        whole=dialog,
    )
    dialog.get_by_role("button", name="Trigger").click()

    page.wait_for_url(f"**/dags/{DAG_ID}/runs/**")
    run_id = unquote(page.url.rsplit("/runs/", 1)[1].split("?")[0].split("/")[0])
    expect(page.get_by_role("status").filter(has_text="Dag Run Triggered")).to_be_visible()
    screenshots.take("run-triggered", f"run {run_id} right after Trigger, with the 'Dag Run Triggered' toast")

    result = api.wait_for_run(DAG_ID, run_id, timeout=150)
    assert result.state == "success", f"run {run_id} ended {result.state}; tasks: {result.seen_states}"
    run = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}")
    assert run["triggered_by"] == "ui" and run["conf"]["count"] == count, run
    for task_id in api.task_instances(DAG_ID, run_id):
        task_row = page.get_by_role("row").filter(has_text=task_id).first
        expect(task_row).to_contain_text("Success")
    screenshots.take("run-succeeded", f"the page of run {run_id}: the run and each of its tasks Success")

    # What check_records concluded, as the UI shows it on the task's XCom tab.
    page.goto(f"{airflow.base_url}/dags/{DAG_ID}/runs/{quote(run_id)}/tasks/check_records/xcom")
    expect(page.get_by_text(f"Hello, Fluvio! - {count}").first).to_be_visible()
    screenshots.take("check-records-xcom", f"the XCom of check_records: {count} records, 'Hello, Fluvio! - 1' .. '- {count}'")
    assert api.xcom(DAG_ID, run_id, "check_records") == {
        "records": count,
        "first": "Hello, Fluvio! - 1",
        "last": f"Hello, Fluvio! - {count}",
    }
