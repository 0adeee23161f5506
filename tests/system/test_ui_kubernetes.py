"""The Connectors page on the Kubernetes runtime: a connection whose connectors are Deployments on
the local cluster's real node and whose topics are in the real Fluvio cluster.

The app is served from this process (uvicorn on 127.0.0.1, mounted at ``/fluvio`` as the API server
mounts it) with a real Airflow auth manager (tests/ui/ui_testing.py), and the page is opened in a
headless Chromium; the connector is the project's own image in a real pod. The page shows it
Running, its config from its ConfigMap (the secret's name, never its value), its pod's log, the
newest records of its topic and a throughput above 0 (from the topic's growth: pods report no
counts); Delete on the page removes it.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from real_pods import REGISTRY, VERSION

# The app's test set-up (tests/ui) and the e2e suite's Chromium arguments.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_browser import CHROMIUM_ARGS
from ui_testing import GRANTS, UiApp, airflow_auth, ensure_airflow_db

if TYPE_CHECKING:
    from conftest import KubeNamespace
    from fluvio_cluster import FluvioCluster

pytestmark = [pytest.mark.system]

CONN_ID = "fluvio_k8s_ui"
TIMEOUT_MS = 180_000  # a pod start on a loaded machine
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "system"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[UiApp, str]]:
    """The app on a free 127.0.0.1 port (and an in-process client of it), with users' tokens."""
    import uvicorn
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from airflow_provider_fluvio.ui.app import create_app
    from airflow_provider_fluvio.ui.service import ConnectorService

    ensure_airflow_db()
    service = ConnectorService()
    with airflow_auth("ui_testing.TableAuthManager", {user: "viewer" for user in GRANTS}) as manager:
        root = FastAPI()
        root.mount("/fluvio", create_app(service))
        tokens = {user: manager.generate_jwt(SimpleAuthManagerUser(username=user, role="viewer")) for user in GRANTS}
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="ui-server", daemon=True)
        thread.start()
        try:
            with TestClient(root) as client:
                app = UiApp(client, tokens)
                app.wait_for("the app to listen", lambda: server.started, 30)
                yield app, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)
            service.close()


def test_the_connectors_page_on_the_kubernetes_runtime(
    served: tuple[UiApp, str], real_namespace: KubeNamespace, fluvio_cluster: FluvioCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not installed at {CHROMIUM} (scripts/install-e2e-deps.sh installs it)")
    from playwright.sync_api import expect, sync_playwright

    ui, base_url = served
    host, port = fluvio_cluster.endpoint.rsplit(":", 1)
    extra = {"runtime": "kubernetes", "namespace": real_namespace.namespace, "kube_config_path": real_namespace.kubeconfig,
             "image_registry": REGISTRY, "host_network": True}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "fluvio", "host": host, "port": int(port), "extra": extra}))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    name, token = f"ui-k8s-{uuid.uuid4().hex[:6]}", f"tok-{uuid.uuid4().hex}"
    config = (f'version: "{VERSION}"\nname: {name}\ntype: test-connector\ntopic: {name}\ncreate_topic: true\n'
              "parameters:\n  timeout: 200\nsecrets: [API_TOKEN]\n")
    query = f"conn={CONN_ID}"
    created = ui.post(f"/api/connectors?{query}", {"config": config, "secrets": {"API_TOKEN": token}}, "admin")
    assert created.status_code == 201, created.text
    texts: list[str] = [created.text]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        expect.set_options(timeout=TIMEOUT_MS)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1400})
            context.add_cookies([{"name": "_token", "value": ui.tokens["admin"], "url": base_url}])
            page = context.new_page()
            page.goto(f"{base_url}/fluvio/connectors/{name}?{query}")
            heading = page.get_by_role("heading", level=1)
            expect(heading).to_contain_text("Running")
            expect(page.get_by_role("region", name="Config")).to_contain_text("secrets:\n- API_TOKEN")
            expect(page.get_by_label("Connector log")).to_contain_text(f"test-connector[{name}]: starting")
            expect(page.get_by_role("region", name="Newest records")).to_contain_text("Hello, Fluvio! - ")
            plot = page.get_by_role("img", name="records/s (topic growth) over the last 5 minutes")
            expect(plot).to_have_attribute("aria-label", re.compile(r"now (?:[1-9]|0\.[1-9])"))
            expect(page.locator("dl.facts")).to_contain_text(f"kubernetes: topics: Fluvio cluster at {fluvio_cluster.endpoint}")
            page.screenshot(path=str(ARTIFACTS / "ui-kubernetes-connector.png"), full_page=True)
            texts.append(page.content())

            page.get_by_role("link", name="Connectors").click()
            row = page.get_by_role("region", name=f"Connection {CONN_ID}").locator(f"tr[data-name='{name}']")
            expect(row).to_contain_text("Running")
            texts.append(page.content())
            row.get_by_role("link", name=name).click()
            page.get_by_role("button", name="Delete").click()
            page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
            page.wait_for_url(f"{base_url}/fluvio/connectors")
            browser.close()
        assert ui.get(f"/api/connectors/{name}?{query}", "admin").status_code == 404
    finally:
        ui.delete(f"/api/connectors/{name}?{query}", "admin")
    for text in texts:
        assert token not in text
