"""The provider's plugin as Airflow loads it: found through the entry point (no file in plugins/),
once whether or not Airflow discovers providers eagerly, with its view, its app and the link."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from airflow_provider_fluvio.ui.links import LINK_NAME, FluvioConnectorLink, connector_page_path, connector_ui_url

PROBE = """
import json
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
fluvio = [p for p in plugins if p.name == "fluvio"]
info = [p for p in plugins_manager.get_plugin_info() if p["name"] == "fluvio"]
print(json.dumps({"count": len(fluvio), "errors": errors, "info": info}, default=str))
"""


def _loaded(lazy: bool) -> dict[str, Any]:
    # Not from the repository's root: Python would also find the source tree's egg-info there and
    # Airflow would see the entry point twice (as for any plugin run from its own checkout).
    env = {**os.environ, "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": str(lazy)}
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, env=env,
                            cwd=tempfile.gettempdir())
    assert result.returncode == 0, result.stderr[-2000:]
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


@pytest.mark.slow
def test_airflow_loads_the_plugin_once_in_either_discovery_mode() -> None:
    with ThreadPoolExecutor(2) as pool:
        lazy, eager = pool.map(_loaded, (True, False))
    for loaded in (lazy, eager):
        assert loaded["count"] == 1 and loaded["errors"] == {}, loaded
        (info,) = loaded["info"]
        assert info["external_views"] == [{
            "name": "Connectors", "href": "fluvio/connectors", "destination": "nav", "nav_top_level": True,
            "icon": "fluvio/static/icon.svg", "url_route": "fluvio-connectors",
        }]
        assert [(a["name"], a["url_prefix"], a["app"]) for a in info["fastapi_apps"]] == [
            ("Fluvio connectors", "/fluvio", "airflow_provider_fluvio.ui.plugin.LazyApp")]
        assert info["operator_extra_links"] == ["<airflow_provider_fluvio.ui.links.FluvioConnectorLink object>"]
    assert "entry_point_plugin" in lazy["info"][0]["source"]  # through the entry point, no plugins/ file


def test_connector_page_urls() -> None:
    assert connector_page_path("fluvio_default", "my-conn") == "connectors/my-conn?conn=fluvio_default"
    assert connector_page_path("team/a b", "x") == "connectors/x?conn=team%2Fa+b"
    assert connector_ui_url("http://airflow.example:8080", "fluvio_default", "c1") == (
        "http://airflow.example:8080/plugin/fluvio-connectors/fluvio/connectors/c1?conn=fluvio_default")
    # An API server below a path: the UI's route and the page's path both carry it.
    assert connector_ui_url("https://example.com/airflow/", "f", "c1") == (
        "https://example.com/airflow/plugin/fluvio-connectors/airflow/fluvio/connectors/c1?conn=f")
    assert connector_ui_url("", "f", "c1") == "/plugin/fluvio-connectors/fluvio/connectors/c1?conn=f"


def test_the_link_names_the_tasks_connector_and_connection() -> None:
    class Task:
        connector_name = "c1"
        fluvio_conn_id = "fluvio_prod"

    link = FluvioConnectorLink()
    assert link.name == LINK_NAME
    assert link.get_link(Task(), ti_key=None).endswith("/plugin/fluvio-connectors/fluvio/connectors/c1?conn=fluvio_prod")  # type: ignore[arg-type]
    Task.connector_name = None  # type: ignore[assignment]  # a create task that failed before loading its config
    assert link.get_link(Task(), ti_key=None) == ""  # type: ignore[arg-type]
