"""What goes into the connector images, checked without a Docker engine.

- ``connectors/requirements.txt`` covers every third-party import of ``fluvio_connectors`` (ast);
- each Dockerfile (parsed by Docker's own parser, the ``dockerfile`` package) installs only that
  file and the package in its first stage, and its image stage runs nothing at build time, runs as
  uid 1000, has the connector as ENTRYPOINT and a HEALTHCHECK (the images built and run for real:
  ``test_connector_containers.py``);
- a fresh virtualenv with exactly that file and the package (no Airflow) runs the connectors.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

import dockerfile
import pytest
from connector_fixtures import Broker, mqtt_config, read_topic, topic_size, wait_for

from fluvio_connectors.catalog import ConnectorType, all_types
from fluvio_connectors.status import ProgramState, read_status

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "connectors" / "fluvio_connectors"
REQUIREMENTS = ROOT / "connectors" / "requirements.txt"
DOCKER = ROOT / "docker"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"{line!r} is not pinned with =="
            pins[canonical(name)] = version.strip()
    return pins


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in the package (also inside functions) -> files."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "fluvio_connectors":
                    found.setdefault(top, set()).add(path.name)
    return found


def test_requirements_cover_every_third_party_import() -> None:
    pins = requirements()
    distributions = importlib.metadata.packages_distributions()
    imports = third_party_imports()
    assert {"pydantic", "yaml", "paho", "fluvio", "psycopg", "httpx"} <= set(imports)  # lazy imports too
    for module, files in sorted(imports.items()):
        owners = {canonical(d) for d in distributions.get(module, [])}
        assert owners, f"{module} (imported in {sorted(files)}) is not installed"
        where = f"{module} (imported in {sorted(files)})"
        assert owners & set(pins), f"{where} comes from {owners}, not in {REQUIREMENTS}"
        for owner in owners & set(pins):
            installed = importlib.metadata.version(owner)
            assert installed == pins[owner], f"{owner}: pinned {pins[owner]}, the tests run {installed}"


def test_requirements_hold_nothing_of_airflow() -> None:
    assert not [name for name in requirements() if "airflow" in name]


def dockerfile_for(type_name: str) -> Path:
    return DOCKER / f"{type_name}.Dockerfile"


def build_args(commands: list[dockerfile.Command]) -> dict[str, str]:
    """The defaults of the ARGs before the first FROM, with ${NAME} references resolved."""
    args: dict[str, str] = {}
    for command in commands:
        if command.cmd.upper() == "FROM":
            break
        if command.cmd.upper() == "ARG":
            name, _, default = command.value[0].partition("=")
            args[name] = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], default)
    return args


@pytest.mark.parametrize("ctype", all_types(), ids=lambda t: t.name)
def test_dockerfile_builds_only_the_connector(ctype: ConnectorType) -> None:
    path = dockerfile_for(ctype.name)
    commands = dockerfile.parse_file(str(path))
    stages: list[dict[str, list[dockerfile.Command]]] = []
    for command in commands:
        if command.cmd.upper() == "FROM":
            stages.append({})
        if stages:
            stages[-1].setdefault(command.cmd.upper(), []).append(command)
    build, image = stages  # pip installs in the first; the second is the image

    # Docker users get python:3.11-slim-bookworm in both stages unless they pass other bases.
    args = build_args(commands)
    assert args["BASE_IMAGE"] == "python:3.11-slim-bookworm" and args["BUILD_IMAGE"] == args["BASE_IMAGE"]
    assert build["FROM"][0].value[0] == "${BUILD_IMAGE}" and image["FROM"][0].value[0] == "${BASE_IMAGE}"

    copies = [c.value for c in build["COPY"]]
    assert [src for *srcs, _dest in copies for src in srcs] == ["connectors/requirements.txt",
                                                                 "connectors/fluvio_connectors"]
    runs = " ".join(" ".join(c.value) for c in build["RUN"]).lower()
    assert "airflow" not in runs and "pip install" in runs
    installs = re.findall(r"pip install ([^&;]*)", runs)
    assert installs and all("--requirement" in i or " -r " in f" {i}" for i in installs), installs
    # the image runs nothing at build time (its base needs no shell, pip or useradd) and takes
    # only what the first stage made
    assert "RUN" not in image
    assert all("--from=build" in c.flags for c in image["COPY"])

    user = image["USER"][-1].value[0]
    assert user == "1000:1000", user  # numeric, for runAsNonRoot
    env = dict(zip(image["ENV"][0].value[::2], image["ENV"][0].value[1::2], strict=True))
    assert env["HOME"] == "/home/fluvio" and env["FLUVIO_CONNECTOR_STATUS_FILE"].startswith("/tmp/")
    assert env["PYTHONPATH"].split(":") == ["/opt/fluvio-connectors", "/opt/fluvio-connectors/lib"]

    entrypoint = image["ENTRYPOINT"][-1]
    assert entrypoint.json and list(entrypoint.value) == ["python", "-m", ctype.module]
    assert "--config" in image["CMD"][-1].value

    health = image["HEALTHCHECK"][-1]
    assert health.value[0] == "CMD" and list(health.value[1:4]) == ["python", "-m", "fluvio_connectors.probe"]

    ignore = Path(f"{path}.dockerignore").read_text().split()
    allowed = ignore[ignore.index("*") + 1:][:2]
    assert allowed == ["!connectors/requirements.txt", "!connectors/fluvio_connectors"]


# --------------------------------------------------------------------------- a fresh virtualenv


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding exactly connectors/requirements.txt and the package (as the images)."""
    root = tmp_path_factory.mktemp("image-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    python = root / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
         "--requirement", str(REQUIREMENTS)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, f"pip install -r {REQUIREMENTS} failed:\n{install.stderr[-3000:]}"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    shutil.copytree(PACKAGE, Path(site) / "fluvio_connectors", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def venv_env(tmp_path: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "HOME", "FLUVIO_CONNECTORS_HOME")
    return {**{k: v for k, v in os.environ.items() if k in keep},
            "FLUVIO_CONNECTOR_STATUS_FILE": str(tmp_path / "status.json"),
            "FLUVIO_CONNECTOR_HEARTBEAT": "0.2"}


def test_the_image_environment_has_no_airflow(image_venv: Path) -> None:
    python = str(image_venv / "bin" / "python")
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                            check=True)
    installed = {canonical(p["name"]) for p in json.loads(listed.stdout)}
    assert not [name for name in installed if "airflow" in name]
    assert installed - {"pip", "setuptools"} == set(requirements())
    probe = subprocess.run([python, "-c", "import airflow"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'airflow'" in probe.stderr
    imports = subprocess.run(
        [python, "-c", "import fluvio_connectors.mqtt, fluvio_connectors.mqtt_client, "
         "fluvio_connectors.test_connector, fluvio_connectors.probe, fluvio_connectors.topics.fluvio, "
         "fluvio_connectors.sql_sink, fluvio_connectors.sql_postgres, fluvio_connectors.http_sink, psycopg; "
         "psycopg.pq.version()"],
        capture_output=True, text=True,
    )
    assert imports.returncode == 0, imports.stderr


def test_the_test_connector_runs_from_the_image_environment(image_venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("name: from-image\ntype: test-connector\ntopic: image-topic\ncreate_topic: true\n"
                      "parameters: {count: 3, timeout: 1}\n")
    run = subprocess.run([str(image_venv / "bin" / "python"), "-m", "fluvio_connectors.test_connector",
                          "--config", str(config)], env=venv_env(tmp_path), cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert [r.value_text() for r in read_topic("image-topic")] == [f"Hello, Fluvio! - {i}" for i in (1, 2, 3)]
    probe = subprocess.run([str(image_venv / "bin" / "python"), "-m", "fluvio_connectors.probe"],
                           env=venv_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0 and "finished" in probe.stdout


def test_the_mqtt_connector_runs_from_the_image_environment(
    image_venv: Path, tmp_path: Path, broker: Broker
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(mqtt_config(broker, "image-mqtt")))
    env = venv_env(tmp_path)
    with open(tmp_path / "connector.log", "wb") as log:
        proc = subprocess.Popen([str(image_venv / "bin" / "python"), "-m", "fluvio_connectors.mqtt",
                                 "--config", str(config)], env=env, cwd=tmp_path, stdout=log, stderr=log)
    try:
        def ready() -> bool:
            status = read_status(tmp_path / "status.json")
            assert proc.poll() is None, (tmp_path / "connector.log").read_text()
            return status is not None and status.state is ProgramState.READY

        wait_for(ready, 20, "the MQTT connector to be ready")
        broker.publish("sensors/img", ["a", "b", "c"])
        wait_for(lambda: topic_size("image-mqtt") >= 3, 20, "3 records")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


