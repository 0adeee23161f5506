"""The Connectors pages' API on the Kubernetes runtime: a connection whose connectors are
Deployments on the local cluster's real node and whose topics are in the real Fluvio cluster.

The app runs in this process as the API server mounts it, with a real Airflow auth manager
(tests/ui/ui_testing.py); the connector is the project's own image in a real pod. What the page
shows: the connector Running, its config from its ConfigMap (the secret's name, never its value),
its pod's log, the newest records of its topic and a topic that grows (the throughput the page
plots); Delete removes it.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from real_pods import REGISTRY, VERSION

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from ui_testing import GRANTS, UiApp, airflow_auth, ensure_airflow_db

if TYPE_CHECKING:
    from conftest import KubeNamespace
    from fluvio_cluster import FluvioCluster

pytestmark = [pytest.mark.system]

CONN_ID = "fluvio_k8s_ui"
TIMEOUT = 180.0  # a pod start on a loaded machine


@pytest.fixture(scope="module")
def ui() -> Iterator[UiApp]:
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
        try:
            with TestClient(root) as client:
                yield UiApp(client, tokens)
        finally:
            service.close()


def test_the_connectors_page_on_the_kubernetes_runtime(
    ui: UiApp, real_namespace: KubeNamespace, fluvio_cluster: FluvioCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = fluvio_cluster.endpoint.rsplit(":", 1)
    extra = {"runtime": "kubernetes", "namespace": real_namespace.namespace, "kube_config_path": real_namespace.kubeconfig,
             "image_registry": REGISTRY, "host_network": True}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "fluvio", "host": host, "port": int(port), "extra": extra}))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    name, token = f"ui-k8s-{uuid.uuid4().hex[:6]}", f"tok-{uuid.uuid4().hex}"
    config = (f'version: "{VERSION}"\nname: {name}\ntype: test-connector\ntopic: {name}\ncreate_topic: true\n'
              "parameters:\n  timeout: 200\nsecrets: [API_TOKEN]\n")
    query = f"conn={CONN_ID}"
    answers: list[str] = []

    def get(path: str) -> Any:
        answer = ui.get(f"{path}{'&' if '?' in path else '?'}{query}", "admin")
        answers.append(answer.text)
        return answer

    assert {"id": CONN_ID, "can_edit": True} in ui.get("/api/connections", "admin").json()["connections"]
    created = ui.post(f"/api/connectors?{query}", {"config": config, "secrets": {"API_TOKEN": token}}, "admin")
    assert created.status_code == 201, created.text
    answers.append(created.text)
    try:
        running = ui.wait_for(f"{name} Running on the real node", lambda: (
            d := get(f"/api/connectors/{name}?config=true").json())["connector"]["status"] == "Running" and d, TIMEOUT)
        assert running["runtime"] == "kubernetes" and f"Fluvio cluster at {fluvio_cluster.endpoint}" in running["where"]
        assert running["config"].startswith(f"version: {VERSION}\nname: {name}\n")
        assert "secrets:\n- API_TOKEN\n" in running["config"]  # from its ConfigMap

        listed = get("/api/connectors").json()["connectors"]
        assert [(row["name"], row["status"], row["runtime"]) for row in listed] == [(name, "Running", "kubernetes")]

        logs = ui.wait_for("the pod's log", lambda: [
            line for line in get(f"/api/connectors/{name}/logs").json()["lines"] if f"test-connector[{name}]" in line], 60)
        assert any("starting" in line for line in logs), logs
        records = ui.wait_for("records of its topic in Fluvio", lambda: get(f"/api/connectors/{name}/records").json()["records"], 60)
        assert records[0]["value"]["text"].startswith("Hello, Fluvio! - ")
        # The page's throughput on this runtime comes from the topic's growth (no counts from pods).
        first = get(f"/api/connectors/{name}").json()["topic_end"]
        ui.wait_for("the topic to grow", lambda: get(f"/api/connectors/{name}").json()["topic_end"] > first, 30)
        page = ui.client.get(f"/fluvio/connectors/{name}?{query}", cookies=ui.cookie("reader"))
        assert page.status_code == 200 and f'data-conn="{CONN_ID}"' in page.text
    finally:
        deleted = ui.delete(f"/api/connectors/{name}?{query}", "admin")
    assert deleted.status_code == 200, deleted.text
    assert ui.get(f"/api/connectors/{name}?{query}", "admin").status_code == 404
    for answer in answers:
        assert token not in answer
