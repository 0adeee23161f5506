"""Importing the provider at DAG-parse time pulls in nothing it only needs when a task runs.

A fresh interpreter imports ``airflow.sdk`` and the base classes (what any DAG file with operators
loads anyway), then what a DAG file imports from the provider: the operators and the sensor; then
a topic's asset with a record watcher, built as an event-driven DAG file builds it; then the hook
(DAG files that use it directly); then the plugin, which every Airflow component imports. Each
step's newly imported modules are checked.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from typing import Any

PROBE = """
import json, sys
import airflow.sdk
from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator

def new_modules(step):
    before = set(sys.modules)
    step()
    return sorted(set(sys.modules) - before)

dag = new_modules(lambda: (__import__("airflow_provider_fluvio.operators.connector"),
                           __import__("airflow_provider_fluvio.sensors.connector")))

def watched_topic():  # an event-driven DAG file: a topic's asset with a record watcher
    from airflow_provider_fluvio.assets.fluvio import fluvio_topic_asset
    from airflow_provider_fluvio.triggers.records import fluvio_topic_watcher

    fluvio_topic_asset("orders", watchers=[fluvio_topic_watcher("orders")])

watched = new_modules(watched_topic)
hook = new_modules(lambda: __import__("airflow_provider_fluvio.hooks.fluvio"))
import airflow.plugins_manager  # what a component has loaded when it loads plugins
plugin = new_modules(lambda: __import__("airflow_provider_fluvio.ui.plugin"))
print(json.dumps({"dag": dag, "watched": watched, "hook": hook, "plugin": plugin}))
"""

# Third-party packages the provider uses only when a task runs (or never at all in a worker).
HEAVY = ("kubernetes", "fluvio", "paho", "psutil", "filelock", "yaml", "click", "sqlite3", "_sqlite3")
# Project modules that are only needed to do the work: validating configs (pydantic models), the
# topics backends, the runtimes, the hook itself.
TASK_TIME = (
    "fluvio_connectors.config",
    "fluvio_connectors.catalog",
    "fluvio_connectors.settings",
    "fluvio_connectors.topics",
    "fluvio_connectors.runner",
    "airflow_provider_fluvio.runtimes",
    "airflow_provider_fluvio.hooks.fluvio",
    "airflow_provider_fluvio.triggers",
)


@functools.cache
def probe() -> dict[str, list[str]]:
    """The modules each step imported (one fresh interpreter for all the tests here)."""
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    data: Any = json.loads(result.stdout.strip().splitlines()[-1])
    return data  # type: ignore[no-any-return]


def offenders(modules: list[str], banned: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == b or m.startswith(b + ".") for b in banned)]


def test_dag_files_importing_operators_and_the_sensor_load_nothing_heavy() -> None:
    imported = probe()
    dag = imported["dag"]
    assert offenders(dag, HEAVY) == []
    assert offenders(dag, TASK_TIME) == []
    # What the provider does load at parse time: its small modules, and Airflow's compat layer.
    ours = sorted(m for m in dag if m.split(".")[0] in ("airflow_provider_fluvio", "fluvio_connectors"))
    assert ours == [
        "airflow_provider_fluvio.operators",
        "airflow_provider_fluvio.operators.connector",
        "airflow_provider_fluvio.pending",
        "airflow_provider_fluvio.sensors",
        "airflow_provider_fluvio.sensors.connector",
        "airflow_provider_fluvio.statuses",
        "airflow_provider_fluvio.ui",
        "airflow_provider_fluvio.ui.links",  # the tasks' extra link: the standard library only
        "airflow_provider_fluvio.waiting",  # the sensor's wait parameters: the standard library only
        "fluvio_connectors",
        "fluvio_connectors.errors",
        "fluvio_connectors.messages",  # one-line error messages: the standard library only
    ]
    assert all(m.split(".")[0] in ("airflow", "airflow_provider_fluvio", "fluvio_connectors") for m in dag)


def test_a_watched_topic_asset_loads_no_backend_config_model_or_settings() -> None:
    """Building the asset and its watcher checks the topic and consumer names (``names.py``) and
    nothing else of ours: no topics backend, no sqlite3, no config models, not even the settings."""
    watched = probe()["watched"]
    assert offenders(watched, HEAVY) == []
    assert offenders(watched, tuple(m for m in TASK_TIME if m != "airflow_provider_fluvio.triggers")) == []
    ours = sorted(m for m in watched if m.split(".")[0] in ("airflow_provider_fluvio", "fluvio_connectors"))
    assert ours == [
        "airflow_provider_fluvio.assets",
        "airflow_provider_fluvio.assets.fluvio",
        "airflow_provider_fluvio.assets.uris",
        "airflow_provider_fluvio.triggers",
        "airflow_provider_fluvio.triggers.record_payload",
        "airflow_provider_fluvio.triggers.records",
        "fluvio_connectors.endpoints",
        "fluvio_connectors.names",
    ]


def test_the_hook_module_loads_no_runtime_backend_or_client_library() -> None:
    hook = probe()["hook"]
    assert "airflow_provider_fluvio.hooks.fluvio" in hook
    assert offenders(hook, HEAVY) == []
    assert offenders(hook, tuple(m for m in TASK_TIME if m != "airflow_provider_fluvio.hooks.fluvio")) == []


def test_the_plugin_every_component_imports_loads_no_web_framework_and_no_hook() -> None:
    plugin = probe()["plugin"]
    assert "airflow_provider_fluvio.ui.plugin" in plugin
    # FastAPI, the pages and the hook are loaded by the API server on the pages' first request.
    assert offenders(plugin, (*HEAVY, "fastapi", "starlette", "jinja2", "airflow_provider_fluvio.ui.app")) == []
    assert offenders(plugin, TASK_TIME) == []
