"""The ``fluvio-connector`` CLI, run against an e2e Airflow deployment's FLUVIO_CONNECTORS_HOME."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from airflow_cluster import AirflowCluster

CONNECTOR_CLI = Path(sys.executable).with_name("fluvio-connector")


def connector_cli(airflow: AirflowCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``fluvio-connector ARGS`` against the Airflow deployment's FLUVIO_CONNECTORS_HOME."""
    return subprocess.run(
        [str(CONNECTOR_CLI), *args],
        env=airflow.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def list_connectors(airflow: AirflowCluster) -> list[dict[str, Any]]:
    """``fluvio-connector list -O json`` in the deployment's FLUVIO_CONNECTORS_HOME."""
    result = connector_cli(airflow, "list", "-O", "json")
    assert result.returncode == 0, f"fluvio-connector list failed ({result.returncode}): {result.stderr}"
    listed = json.loads(result.stdout or "[]")
    assert isinstance(listed, list), listed
    return listed


def delete_leftover_connectors(airflow: AirflowCluster) -> list[str]:
    """Delete every connector still in the deployment's state directory; returns their names."""
    # A failed test can leave a connector process behind (they outlive the task that started them,
    # by design); delete them through the product's own CLI so none survives the session.
    if not CONNECTOR_CLI.exists():
        return []
    try:
        names = [str(c.get("name")) for c in list_connectors(airflow)]
    except (AssertionError, ValueError, subprocess.TimeoutExpired):
        return []
    for name in names:
        connector_cli(airflow, "delete", name)
    return names
