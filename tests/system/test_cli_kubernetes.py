"""``fluvio-connector ... --runtime kubernetes`` as a user runs it: the real CLI in a subprocess
against the local control plane of ``k8s/`` (kube-apiserver, controller-manager, scheduler, kwok).

kwok makes a pod Ready unless its image contains ``crashloop`` (CrashLoopBackOff) or ``badimage``
(ImagePullBackOff); ``--registry`` puts those words in the image name. No container really runs,
so there are no records and no pod logs. Topics live in the embedded log of the test's
``FLUVIO_CONNECTORS_HOME``. The module works in its own namespace, deleted at the end.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import KubeNamespace

pytestmark = [pytest.mark.system]

TIMEOUT = 60.0  # for a status to appear; kwok makes pods Ready within a second or two
CLI_TIMEOUT = 60.0  # one CLI invocation (imports and a few API calls; slow only on a loaded machine)
SECRET_VALUE = "s3cr3t-" + uuid.uuid4().hex


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(kube_namespace: KubeNamespace, *args: str, registry: str = "example") -> Result:
    """Run ``fluvio-connector ARGS --runtime kubernetes ...`` and return what it printed."""
    env = dict(os.environ)
    # Only the command line says where to go: no ambient kube config, namespace or registry.
    for name in ("KUBECONFIG", "FLUVIO_CONNECTORS_NAMESPACE", "FLUVIO_CONNECTORS_REGISTRY",
                 "FLUVIO_CONNECTORS_RUNTIME"):
        env.pop(name, None)
    argv = [sys.executable, "-m", "airflow_provider_fluvio.cli", *args, "--runtime", "kubernetes",
            "--kubeconfig", kube_namespace.kubeconfig, "--namespace", kube_namespace.namespace, "--registry", registry]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def cli_all(kube_namespace: KubeNamespace, *calls: tuple[str, ...]) -> list[Result]:
    """Run independent CLI calls at the same time (each one pays Python's start-up)."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda args: cli(kube_namespace, *args), calls))


def ok(result: Result) -> Result:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def write_config(directory: Path, name: str, *, secrets: list[str] | None = None) -> Path:
    """A test-connector config pinned to 0.1.0, as a user writes it."""
    lines = [
        "version: 0.1.0",
        f"name: {name}",
        "type: test-connector",
        f"topic: {name}-topic",
        "create_topic: true",
        "parameters:",
        "  timeout: 1000",
    ]
    if secrets:
        lines += ["secrets:", *(f"  - {secret}" for secret in secrets)]
    path = directory / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def status_json(kube_namespace: KubeNamespace, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(cli(kube_namespace, "status", name, "-O", "json")).stdout)
    return data


def wait_for_status(kube_namespace: KubeNamespace, name: str, wanted: str, forbidden: str) -> dict[str, Any]:
    """Poll ``status NAME -O json`` until ``wanted``; ``forbidden`` or the deadline fails the test."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        info = status_json(kube_namespace, name)
        if info["status"] == wanted:
            return info
        assert info["status"] != forbidden, f"{name} became {info['status']}: {info['reason']}"
        if time.monotonic() >= deadline:
            pytest.fail(f"{name} still {info['status']} ({info['reason']}) after {TIMEOUT:g}s, wanted {wanted}")
        time.sleep(0.3)


def table_rows(text: str) -> list[dict[str, str]]:
    """The rows of ``list``'s table as {column: cell} (the last column, REASON, may be empty)."""
    header, *rows = [line for line in text.splitlines() if line.strip()]
    columns = header.split()
    return [dict(zip(columns, row.split(None, len(columns) - 1), strict=False)) for row in rows]


def read_objects(kube_namespace: KubeNamespace, name: str) -> dict[str, Any]:
    """The connector's Deployment, ConfigMap, Secret and pods, as the API server stores them
    (None for a missing object)."""
    from kubernetes import client

    apps, core = client.AppsV1Api(kube_namespace.api_client), client.CoreV1Api(kube_namespace.api_client)

    def read(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    return {
        "deployment": read(apps.read_namespaced_deployment, name, kube_namespace.namespace),
        "configmap": read(core.read_namespaced_config_map, f"{name}-config", kube_namespace.namespace),
        "secret": read(core.read_namespaced_secret, f"{name}-secrets", kube_namespace.namespace),
        "pods": core.list_namespaced_pod(kube_namespace.namespace,
                                         label_selector=f"app.kubernetes.io/instance={name}").items,
    }


def test_create_status_list_delete(kube_namespace: KubeNamespace, tmp_path: Path) -> None:
    name = "cli-ok"
    config = write_config(tmp_path, name)

    created = ok(cli(kube_namespace, "create", "--config", str(config)))
    assert created.stdout.strip() == f'connector "{name}" created'

    info = wait_for_status(kube_namespace, name, "Running", forbidden="Failed")
    assert (info["name"], info["type"], info["topic"], info["version"], info["runtime"]) == (
        name, "test-connector", f"{name}-topic", "0.1.0", "kubernetes")

    # What a user sees of a Running connector; these calls change nothing, so they run together.
    table, listed, again, logs = cli_all(
        kube_namespace, ("list",), ("list", "-O", "json"), ("create", "--config", str(config)), ("logs", name))
    lines = ok(table).stdout
    assert lines.splitlines()[0].split() == ["NAME", "STATUS", "TYPE", "DIRECTION", "TOPIC", "REPLICAS", "RESTARTS",
                                             "RECORDS", "LAG", "REASON"]
    assert table_rows(lines) == [
        {"NAME": name, "STATUS": "Running", "TYPE": "test-connector", "DIRECTION": "source", "TOPIC": f"{name}-topic",
         "REPLICAS": "1/1", "RESTARTS": "0", "RECORDS": "-", "LAG": "-"}
    ]
    connectors = json.loads(ok(listed).stdout)
    assert [(c["name"], c["status"], c["runtime"]) for c in connectors] == [(name, "Running", "kubernetes")]

    assert again.returncode == 1
    assert again.stderr.strip() == f"error: connector {name} already exists"
    assert read_objects(kube_namespace, name)["deployment"] is not None  # the refusal touched nothing

    # kwok runs no kubelet: the API server cannot fetch the log. A user sees one line, no traceback.
    assert logs.returncode == 1
    assert logs.stderr.startswith("error: Kubernetes API, reading the log of pod ")
    assert len(logs.stderr.strip().splitlines()) == 1

    deleted = ok(cli(kube_namespace, "delete", name))
    assert deleted.stdout.strip() == f'connector "{name}" deleted'
    listed, missing = cli_all(kube_namespace, ("list", "-O", "json"), ("delete", name))
    assert json.loads(ok(listed).stdout) == []
    assert missing.returncode == 1
    assert f"error: connector {name} not found" in missing.stderr.splitlines()


def test_crash_loop_is_failed_with_its_reason(kube_namespace: KubeNamespace, tmp_path: Path) -> None:
    name = "cli-crash"
    created = cli(kube_namespace, "create", "--config", str(write_config(tmp_path, name)), "--wait", str(TIMEOUT),
                  registry="example/crashloop")
    # --wait gives up at once on a Failed connector, with its reason.
    assert created.returncode == 1, created
    assert created.stdout.strip() == f'connector "{name}" created'
    assert created.stderr.strip().startswith(f"error: connector {name} is Failed: CrashLoopBackOff")
    assert created.stderr.strip().endswith(f"the connector is still there: fluvio-connector delete {name} removes it")

    shown, listed = (ok(r) for r in cli_all(kube_namespace, ("status", name), ("list", "-O", "json")))
    fields = dict(line.split(":", 1) for line in shown.stdout.splitlines())
    assert fields["status"].strip() == "Failed"
    assert fields["reason"].strip().startswith("CrashLoopBackOff")
    assert int(fields["restarts"]) >= 1
    assert [(c["name"], c["status"]) for c in json.loads(listed.stdout)] == [(name, "Failed")]

    ok(cli(kube_namespace, "delete", name))


def test_secret_value_is_in_the_secret_only(kube_namespace: KubeNamespace, tmp_path: Path) -> None:
    from kubernetes import client

    name = "cli-secret"
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text(f"# connector secrets\nAPI_TOKEN={SECRET_VALUE}\n")
    config = write_config(tmp_path, name, secrets=["API_TOKEN"])

    created = ok(cli(kube_namespace, "create", "--config", str(config), "--secrets", str(secrets_file)))
    assert SECRET_VALUE not in created.stdout + created.stderr

    objects = read_objects(kube_namespace, name)
    secret = objects["secret"]
    assert secret is not None
    assert {k: base64.b64decode(v).decode() for k, v in secret.data.items()} == {"API_TOKEN": SECRET_VALUE}
    configmap = objects["configmap"]
    assert configmap is not None
    assert "API_TOKEN" in configmap.data["config.yaml"]  # the config names its secret ...
    serialize = client.ApiClient().sanitize_for_serialization
    for kind in ("configmap", "deployment", "pods"):  # ... but nothing but the Secret holds it
        assert SECRET_VALUE not in json.dumps(serialize(objects[kind])), kind

    shown = ok(cli(kube_namespace, "status", name, "-O", "json"))
    assert SECRET_VALUE not in shown.stdout + shown.stderr

    ok(cli(kube_namespace, "delete", name))
    deadline = time.monotonic() + TIMEOUT
    while any(objects[kind] for kind in ("deployment", "configmap", "secret")):
        assert time.monotonic() < deadline, f"still there after delete: {objects}"
        time.sleep(0.2)
        objects = read_objects(kube_namespace, name)
