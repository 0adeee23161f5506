"""What a user gets from the distribution: an editable install (``pip install -e .``) that type
checkers follow, and the wheel and sdist ``make dist`` builds.

The project has two package roots (``.`` for the provider, ``connectors/`` for the connectors the
images ship alone). Both tests build with the ``hatchling`` of the test venv (no build isolation:
no network), exactly as ``pip install -e .`` and ``python -m build`` would with it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DAG = ROOT / "dags_examples" / "example_fluvio_hook.py"


def _run(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "MYPY"))}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.slow
def test_mypy_follows_an_editable_install_into_a_dag_file(tmp_path: Path) -> None:
    """A fresh venv with ``pip install -e .`` of this checkout: mypy on an example DAG resolves
    ``airflow_provider_fluvio.hooks.fluvio`` (and ``fluvio_connectors``, the other root) to the
    checkout's typed source. The venv sees Airflow and the other dependencies through a path entry
    to the test venv's site-packages, where the checkout is not active (``.pth`` files are only
    read in a venv's own site-packages)."""
    venv = tmp_path / "fresh"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    fresh_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).stdout.strip())
    (fresh_site / "_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    installed = _run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(ROOT)], tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    paths = [line for pth in fresh_site.glob("*.pth") for line in pth.read_text().splitlines()]
    assert str(ROOT) in paths and str(ROOT / "connectors") in paths, paths  # path entries, no import hook

    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook
        from fluvio_connectors.topics import Record

        reveal_type(FluvioHook().describe())
        reveal_type(Record(0, None, b"", 0.0).value_text())
        """))
    (tmp_path / "mypy.ini").write_text(textwrap.dedent("""
        [mypy]
        python_version = 3.11
        # Only the project's own modules are what this test is about; the dependencies' (Airflow,
        # pydantic, ...) would take a minute to analyse.
        follow_imports = skip
        [mypy-airflow_provider_fluvio.*,fluvio_connectors.*]
        follow_imports = normal
        """))
    checked = _run(
        [sys.executable, "-m", "mypy", "--python-executable", str(python), "--config-file", "mypy.ini",
         "--cache-dir", str(tmp_path / "mypy-cache"), str(EXAMPLE_DAG), str(probe)],
        tmp_path,
    )
    output = checked.stdout + checked.stderr
    assert "Cannot find implementation or library stub" not in output, output
    assert re.search(r'probe.py:5: note: Revealed type is "(builtins\.)?str"', output), output
    assert re.search(r'probe.py:6: note: Revealed type is "(builtins\.)?str"', output), output
    assert checked.returncode == 0 or output.count("error:") == 0, output


@pytest.mark.slow
def test_dist_builds_a_wheel_and_an_sdist_with_both_packages(tmp_path: Path) -> None:
    """``make dist``'s build: the wheel holds both packages with their ``py.typed``, the CLI and
    provider entry points and the license; the sdist holds what builds that wheel again."""
    built = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)], ROOT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = tmp_path.glob("airflow_provider_fluvio-*.whl")
    (sdist,) = tmp_path.glob("airflow_provider_fluvio-*.tar.gz")

    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("airflow_provider_fluvio/hooks/fluvio.py", "airflow_provider_fluvio/py.typed",
                   "fluvio_connectors/mqtt.py", "fluvio_connectors/py.typed"):
        assert module in names, module
    assert not [n for n in names if n.startswith(("tests/", "connectors/", "dags_examples/"))]
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert f"{dist_info}/licenses/LICENSE" in names
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "fluvio-connector = airflow_provider_fluvio.cli:main" in entry_points
    assert "provider_info = airflow_provider_fluvio.get_provider_info:get_provider_info" in entry_points
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata

    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    for needed in ("pyproject.toml", "LICENSE", "README.md", "CHANGELOG.md", "connectors/fluvio_connectors/config.py",
                   "airflow_provider_fluvio/get_provider_info.py"):
        assert needed in members, needed
    assert not [m for m in members if m.startswith((".venv/", "test-artifacts/"))]
