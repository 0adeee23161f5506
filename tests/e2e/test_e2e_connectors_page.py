"""The provider's Connectors pages in the real Airflow UI, in a real headless Chromium, as an admin,
a viewer and a browser that never signed in; and the extra link of a DAG's create task.

The pages are the plugin the provider registers through its entry point (nothing was copied into
``plugins/``), served by the running api-server. Every step leaves a screenshot under
``test-artifacts/e2e/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest
from airflow_api import AirflowApi
from airflow_cluster import ADMIN_USER, VIEWER_USER, AirflowCluster
from e2e_browser import Screenshots, sign_in
from e2e_connectors import list_connectors

from airflow_provider_fluvio.ui.links import LINK_NAME, UI_ROUTE, URL_PREFIX

if TYPE_CHECKING:
    from playwright.sync_api import FrameLocator, Page

pytestmark = pytest.mark.e2e

DAG_ID = "example_fluvio_test_connector"
CONFIG = "version: v1\nname: {name}\ntype: test-connector\ntopic: {name}\ncreate_topic: true\nparameters:\n  timeout: {timeout}\n"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def plugin_api(airflow: AirflowCluster) -> Iterator[dict[str, httpx.Client]]:
    """The plugin's JSON API over HTTP: one client per user (bearer token) and one with no credentials."""
    clients = {
        user: httpx.Client(base_url=f"{airflow.base_url}{URL_PREFIX}/api", headers={"Authorization": f"Bearer {airflow.token(user)}"}, timeout=30)
        for user in (ADMIN_USER, VIEWER_USER)
    }
    clients["anonymous"] = httpx.Client(base_url=f"{airflow.base_url}{URL_PREFIX}/api", timeout=30)
    yield clients
    for client in clients.values():
        client.close()


def _frame(page: Page) -> FrameLocator:
    """The Connectors view: Airflow's UI shows the plugin's page in an iframe named after the view."""
    return page.frame_locator("iframe[title='Connectors']")


def _open_connectors(page: Page) -> FrameLocator:
    page.get_by_role("link", name="Connectors").click()  # the entry the plugin adds to the navigation
    page.wait_for_url(f"**/plugin/{UI_ROUTE}**")
    return _frame(page)


def test_admin_creates_watches_and_deletes_a_connector_from_the_page(
    page: Page, screenshots: Screenshots, airflow: AirflowCluster
) -> None:
    from playwright.sync_api import expect

    name = _name("e2e-page")
    sign_in(page, airflow, screenshots, ADMIN_USER)
    frame = _open_connectors(page)
    section = frame.get_by_role("region", name="Connection fluvio_default")
    expect(section.get_by_role("columnheader")).to_have_text(
        ["Name", "Type", "Direction", "Status", "Replicas", "Restarts", "Records", "Rate", "Lag", "Age"])
    screenshots.take("connectors-list", "the Connectors entry in Airflow's navigation and its page: the fluvio_default table")

    section.get_by_role("button", name="Create connector").click()
    dialog = frame.get_by_role("dialog")
    config = dialog.get_by_label("Config (YAML)")
    config.fill(CONFIG.format(name=name, timeout="soon"))
    dialog.get_by_role("button", name="Validate").click()
    expect(dialog.locator("#config-error")).to_have_text(re.compile(r"^config: parameters\.timeout: "))
    screenshots.take("create-invalid", "the Create dialog: 'timeout: soon' refused with its one-line error under the config", whole=dialog)
    config.fill(CONFIG.format(name=name, timeout=100))
    dialog.get_by_role("button", name="Validate").click()
    expect(dialog.get_by_role("status")).to_have_text(f"Valid: connector {name} (test-connector).")
    dialog.get_by_role("button", name="Create", exact=True).click()

    # The connector's page: Running, its records counted, a rate above 0 on the plot, its log.
    heading = frame.get_by_role("heading", level=1)
    expect(heading).to_contain_text(name)
    expect(heading).to_contain_text("Running")
    page.wait_for_url(f"**/plugin/{UI_ROUTE}{URL_PREFIX}/connectors/{name}?conn=fluvio_default")
    expect(frame.get_by_label("Connector log")).to_contain_text(f"test-connector[{name}]: starting")
    plot = frame.get_by_role("img", name="records/s over the last 5 minutes")
    expect(plot).to_have_attribute("aria-label", re.compile(r"now (?:[1-9]|0\.[1-9])"))
    expect(frame.get_by_role("region", name="Throughput")).to_contain_text(re.compile(r"\d+(\.\d)? records/s"))
    expect(frame.get_by_role("region", name="Newest records")).to_contain_text("Hello, Fluvio! - ")
    expect(frame.get_by_role("region", name="Config")).to_contain_text(f"name: {name}")
    expect(frame.get_by_role("region", name="Status history")).to_contain_text("Running")
    screenshots.take("connector-page", f"{name}'s page: Running, a rate above 0 on the throughput plot, status history, config, log, newest records")

    frame.get_by_role("button", name="Delete").click()
    confirm = frame.get_by_role("alertdialog")
    expect(confirm).to_contain_text(f"topic {name} and its records stay")
    screenshots.take("delete-confirm", "the confirmation before Delete", whole=confirm)
    confirm.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"**/plugin/{UI_ROUTE}{URL_PREFIX}/connectors")
    expect(frame.get_by_role("region", name="Connection fluvio_default")).to_be_visible()
    expect(frame.locator(f"tr[data-name='{name}']")).to_have_count(0)
    assert name not in [c["name"] for c in list_connectors(airflow)]
    screenshots.take("deleted", f"back on the list, {name} is gone")


def test_viewer_sees_the_list_but_cannot_create_or_delete(
    page: Page, screenshots: Screenshots, airflow: AirflowCluster, plugin_api: dict[str, httpx.Client]
) -> None:
    from playwright.sync_api import expect

    name = _name("e2e-viewer")
    created = plugin_api[ADMIN_USER].post("/connectors", json={"config": CONFIG.format(name=name, timeout=1000)})
    assert created.status_code == 201, created.text
    try:
        sign_in(page, airflow, None, VIEWER_USER)
        frame = _open_connectors(page)
        section = frame.get_by_role("region", name="Connection fluvio_default")
        row = section.locator(f"tr[data-name='{name}']")
        expect(row).to_contain_text("test-connector")
        expect(section.get_by_role("button", name="Create connector")).to_be_disabled()
        screenshots.take("viewer-list", f"the viewer's list: {name} shown, Create connector disabled")
        row.get_by_role("link", name=name).click()
        expect(frame.get_by_role("heading", level=1)).to_contain_text(name)
        expect(frame.get_by_role("button", name="Delete")).to_be_disabled()
        screenshots.take("viewer-connector", f"the viewer on {name}'s page: Delete disabled")

        # Nor through the API with the viewer's own token.
        refused = plugin_api[VIEWER_USER].post("/connectors", json={"config": CONFIG.format(name=_name("nope"), timeout=1000)})
        assert refused.status_code == 403, refused.text
        assert plugin_api[VIEWER_USER].delete(f"/connectors/{name}").status_code == 403
        assert name in [c["name"] for c in list_connectors(airflow)]
    finally:
        plugin_api[ADMIN_USER].delete(f"/connectors/{name}")


def test_a_browser_without_a_session_gets_nothing(
    page: Page, screenshots: Screenshots, airflow: AirflowCluster, plugin_api: dict[str, httpx.Client]
) -> None:
    name = _name("e2e-hidden")
    assert plugin_api[ADMIN_USER].post("/connectors", json={"config": CONFIG.format(name=name, timeout=1000)}).status_code == 201
    try:
        for path in ("/connectors", f"/connectors/{name}"):
            response = page.goto(f"{airflow.base_url}{URL_PREFIX}{path}")
            assert response is not None and response.status == 401
            body = page.locator("body").inner_text()
            assert "Not authenticated" in body and name not in body
        screenshots.take("anonymous", "the Connectors page without a session: 401 and a sign-in link, nothing else")
        anonymous = plugin_api["anonymous"]
        calls: list[tuple[str, str, Any]] = [
            ("GET", "/connections", None), ("GET", "/token", None), ("GET", "/connectors", None),
            ("GET", f"/connectors/{name}", None), ("GET", f"/connectors/{name}/logs", None),
            ("GET", f"/connectors/{name}/records", None), ("DELETE", f"/connectors/{name}", None),
            ("POST", "/connectors", {"config": CONFIG.format(name=_name("anon"), timeout=1000)}),
        ]
        for method, path, body in calls:
            answer = anonymous.request(method, path, json=body)
            assert answer.status_code == 401, (method, path, answer.text)
            assert name not in answer.text
        static = httpx.get(f"{airflow.base_url}{URL_PREFIX}/static/connectors.js", timeout=30)
        assert static.status_code == 401
        assert name in [c["name"] for c in list_connectors(airflow)]
    finally:
        plugin_api[ADMIN_USER].delete(f"/connectors/{name}")


def test_the_create_tasks_extra_link_opens_its_connector_page(
    page: Page, screenshots: Screenshots, airflow: AirflowCluster, api: AirflowApi
) -> None:
    from playwright.sync_api import expect

    run_id = _successful_run(api)
    name = api.xcom(DAG_ID, run_id, "create_connector")["name"]
    expected = f"{airflow.base_url}/plugin/{UI_ROUTE}{URL_PREFIX}/connectors/{name}?conn=fluvio_default"
    for task_id in ("create_connector", "wait_running", "wait_finished", "delete_connector"):
        links = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/links")["extra_links"]
        assert links == {LINK_NAME: expected}, (task_id, links)

    sign_in(page, airflow, None, ADMIN_USER)
    page.goto(f"{airflow.base_url}/dags/{DAG_ID}/runs/{quote(run_id)}/tasks/create_connector")
    page.get_by_role("link", name="Details", exact=True).click()  # the task instance's tab with its extra links
    link = page.get_by_role("link", name=LINK_NAME)
    expect(link).to_have_attribute("href", expected)
    screenshots.take("task-extra-link", f"the create_connector task instance with its '{LINK_NAME}' extra link")
    link.click()
    page.wait_for_url(expected.replace(airflow.base_url, "**"))
    frame = _frame(page)
    expect(frame.get_by_role("heading", level=1)).to_contain_text(name)
    # The run deleted its connector at the end (its topic and records stay): the page says so.
    expect(frame.get_by_role("alert").first).to_contain_text(f"Connector {name} does not exist on fluvio_default")
    expect(frame.get_by_role("button", name="Delete")).to_be_disabled()
    screenshots.take("extra-link-target", f"the page the link opened: connector {name}, deleted by the run's last task")


def _successful_run(api: AirflowApi) -> str:
    """A successful run of the test-connector example: one from earlier in the session, else a new one."""
    api.wait_for_dag(DAG_ID)
    runs = api.get(f"/dags/{DAG_ID}/dagRuns", state="success", order_by="-start_date", limit=1)["dag_runs"]
    if runs:
        return str(runs[0]["dag_run_id"])
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID, {"count": 3, "interval_ms": 100})
    result = api.wait_for_run(DAG_ID, run_id, timeout=180)
    assert result.state == "success", result.seen_states
    return run_id
