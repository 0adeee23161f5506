"""The provider metadata Airflow reads: valid against Airflow's own schemas, importable, and shown
by the ``airflow`` CLI (providers list, connections test, providers behaviours)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points, metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packaging.utils import canonicalize_name

from airflow_provider_fluvio.get_provider_info import get_provider_info

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _schema(name: str) -> dict[str, Any]:
    return json.loads(files("airflow").joinpath(name).read_text())


def test_valid_against_the_installed_airflow_schema() -> None:
    jsonschema.validate(get_provider_info(), _schema("provider_info.schema.json"))


def test_package_name_is_the_distribution_name() -> None:
    info = get_provider_info()
    assert info["package-name"] == canonicalize_name(metadata("airflow-provider-fluvio")["Name"])
    (entry,) = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider")
    ]
    assert entry.load() is get_provider_info


def _connection_type(name: str) -> dict[str, Any]:
    (conn,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == name]
    return dict(conn)


def test_connection_form_validates_against_provider_yaml_schema() -> None:
    conn_type_schema = _schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.validate(get_provider_info()["connection-types"], conn_type_schema)
    assert [c["connection-type"] for c in get_provider_info()["connection-types"]] == ["fluvio", "mqtt"]
    conn = _connection_type("fluvio")
    # The form offers exactly the extras the hook reads (host and port are the standard fields).
    assert set(conn["conn-fields"]) == extras_the_hook_reads()
    assert conn["connection-type"] == "fluvio" and conn["hook-name"] == "Fluvio"


class _Recorder(dict[str, Any]):
    """A connection's extras that note every name looked up."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key.removeprefix("extra__fluvio__"))
        return super().get(key, default)


def extras_the_hook_reads() -> set[str]:
    """Resolve Kubernetes connections with every extra set (as a user can set them all at once),
    with a host and without one (the profile), through the hook's own calls, and note which
    extras it looked up."""
    from airflow_provider_fluvio.connection import ConnectionFields
    from airflow_provider_fluvio.hooks.fluvio import FluvioHook

    read: set[str] = set()
    for host in ("sc.example", None):
        extra = _Recorder({"runtime": "kubernetes", "state_dir": "/tmp/fluvio-state", "use_fluvio_profile": "true",
                           "namespace": "connectors", "kube_config_path": "~/.kube/config", "kube_config": "",
                           "cluster_context": "ctx", "in_cluster": "false", "image_registry": "reg.example",
                           "image_tag": "0.1.0", "host_network": "true"})
        hook = FluvioHook("recorded")
        hook._fields = ConnectionFields("recorded", host=host, port=None, extra=extra)
        hook.describe()
        hook.runtime_options()
        read |= extra.read
    return read


def _dotted_paths(info: dict[str, Any]) -> list[str]:
    paths = [
        m
        for key in ("hooks", "operators", "sensors", "triggers")
        for e in info[key]
        for m in e["python-modules"]
    ]
    paths += [c["hook-class-name"] for c in info["connection-types"]]
    paths += [p["plugin-class"] for p in info["plugins"]] + list(info["extra-links"])
    return paths


@pytest.mark.parametrize("path", _dotted_paths(get_provider_info()))
def test_every_dotted_path_imports(path: str) -> None:
    try:
        importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, attr = path.rpartition(".")
        assert getattr(importlib.import_module(module), attr)


def test_hook_attributes_match_the_connection_type() -> None:
    from airflow_provider_fluvio.hooks.fluvio import FluvioHook
    from airflow_provider_fluvio.hooks.mqtt import MqttHook

    conn = _connection_type("fluvio")
    assert FluvioHook.conn_type == conn["connection-type"]
    assert FluvioHook.hook_name == conn["hook-name"]
    assert FluvioHook.conn_name_attr == "fluvio_conn_id"
    assert FluvioHook.default_conn_name == "fluvio_default"
    mqtt = _connection_type("mqtt")
    assert (MqttHook.conn_type, MqttHook.hook_name) == (mqtt["connection-type"], mqtt["hook-name"])
    assert (MqttHook.conn_name_attr, MqttHook.default_conn_name) == ("mqtt_conn_id", "mqtt_default")


def _json(stdout: str) -> Any:
    """The JSON document in a CLI's output (unit-test mode logs a line before it)."""
    lines = stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(("[{", "[]", "{")))
    return json.loads("\n".join(lines[first:]))


def _airflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRFLOW, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def test_connection_form_as_airflow_loads_it() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    behaviour = manager.field_behaviours["fluvio"]
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "password"}
    assert behaviour["relabeling"] == {"host": "Fluvio SC host", "port": "Fluvio SC port"}
    widgets = manager.connection_form_widgets
    runtime = widgets["extra__fluvio__runtime"]
    from fluvio_connectors.settings import RUNTIMES

    assert runtime.field["schema"]["enum"] == [*RUNTIMES, None]  # the kinds the hook accepts, or unset
    assert runtime.field["schema"]["title"] == "Connector runtime"
    assert widgets["extra__fluvio__in_cluster"].field["schema"]["type"] == ["boolean", "null"]
    mqtt = manager.field_behaviours["mqtt"]
    assert mqtt["hidden_fields"] == ["schema"]
    assert mqtt["relabeling"] == {"host": "Broker host", "port": "Broker port", "login": "Username"}
    assert widgets["extra__mqtt__tls"].field["schema"]["type"] == ["boolean", "null"]
    assert widgets["extra__mqtt__client_key"].field["schema"]["format"] == "password"


@pytest.mark.slow
def test_airflow_cli_shows_the_provider(airflow_db: None, fluvio_home: Path, tmp_path: Path) -> None:
    """``providers list``, ``providers behaviours`` and ``connections test`` (good and bad), run
    side by side: each is a fresh Airflow process taking seconds to start."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the state directory should be")
    good = json.dumps({"conn_type": "fluvio", "extra": {"state_dir": str(fluvio_home)}})
    bad = json.dumps({"conn_type": "fluvio", "extra": {"state_dir": str(blocker)}})
    calls = {
        "list": (("providers", "list", "-o", "json"), {}),
        "behaviours": (("providers", "behaviours", "-o", "json"), {}),
        "good": (("connections", "test", "fluvio_default"), {"AIRFLOW_CONN_FLUVIO_DEFAULT": good}),
        "bad": (("connections", "test", "fluvio_default"), {"AIRFLOW_CONN_FLUVIO_DEFAULT": bad}),
    }
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = {key: pool.submit(_airflow, *args, env=env) for key, (args, env) in calls.items()}
        out = {key: future.result() for key, future in futures.items()}

    assert out["list"].returncode == 0, out["list"].stderr
    providers = {p["package_name"]: p for p in _json(out["list"].stdout)}
    assert providers["airflow-provider-fluvio"]["version"] == metadata("airflow-provider-fluvio")["Version"]

    assert out["behaviours"].returncode == 0, out["behaviours"].stderr
    assert {"field_behaviours": "fluvio"} in _json(out["behaviours"].stdout)

    ok = out["good"]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Connection success!" in ok.stdout
    assert (fluvio_home / "topics.db").is_file()  # it really opened the embedded log

    failed = out["bad"]
    assert "Connection failed!" in failed.stdout, failed.stdout + failed.stderr
    assert str(blocker) in failed.stdout
    # The hint names the field to change, not the environment variable the connection overrides.
    assert "set the state_dir field of connection fluvio_default to a directory" in failed.stdout
    assert "FLUVIO_CONNECTORS_HOME" not in failed.stdout
