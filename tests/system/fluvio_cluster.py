"""The real Fluvio cluster the system tests write to and read from: one place to say where it is.

For now the cluster is one that already runs, named by ``FLUVIO_ENDPOINT`` (``host:port`` of its SC;
tests/conftest.py keeps the value as ``FLUVIO_SYSTEM_ENDPOINT``): the tests skip with the reason
when none is named or it does not answer. The session fixture of issue 10 (a cluster started from
``shared/tools/fluvio/`` for the test run) replaces ``fluvio_cluster`` here; nothing else needs to
change.

Fluvio's own CLI reads the same records: ``FluvioCluster.cli`` runs ``fluvio`` (``FLUVIO_CLI``, else
``fluvio`` on PATH, else unpacked from ``shared/tools/fluvio/``) with a profile of its own that
points at the cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 60.0

PROFILE = """\
version = "2.0"
current_profile = "tests"

[profile.tests]
cluster = "tests"

[cluster.tests]
endpoint = "{endpoint}"
use_spu_local_address = false

[cluster.tests.tls]
tls_policy = "disabled"
"""


@dataclass(frozen=True)
class FluvioCluster:
    endpoint: str  # host:port of the SC, as the project's FLUVIO_ENDPOINT
    cli_path: Path | None
    home: Path  # HOME of the fluvio CLI: holds the profile

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``fluvio ARGS`` against this cluster (skips the test when no CLI is at hand)."""
        if self.cli_path is None:
            pytest.skip("no fluvio CLI: set FLUVIO_CLI or put shared/tools/fluvio/ beside the repository")
        return subprocess.run([str(self.cli_path), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT,
                              env={**os.environ, "HOME": str(self.home)}, stdin=subprocess.DEVNULL)


def _reachable(endpoint: str) -> bool:
    host, _, port = endpoint.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            return True
    except (OSError, ValueError):
        return False


def _find_cli(workdir: Path) -> Path | None:
    given = os.environ.get("FLUVIO_CLI") or shutil.which("fluvio")
    if given:
        return Path(given)
    for parent in REPO.parents:
        for archive in sorted((parent / "shared" / "tools" / "fluvio").glob("fluvio-*-linux.tar.xz")):
            with tarfile.open(archive) as tar:
                member = next((m for m in tar.getmembers() if Path(m.name).name == "fluvio"), None)
                if member is not None:
                    member.name = "fluvio"
                    tar.extract(member, workdir, filter="data")
                    return workdir / "fluvio"
    return None


@pytest.fixture(scope="session")
def fluvio_cluster() -> Iterator[FluvioCluster]:
    """The Fluvio cluster of ``FLUVIO_ENDPOINT``; skips with the reason without one."""
    endpoint = os.environ.get("FLUVIO_SYSTEM_ENDPOINT") or os.environ.get("FLUVIO_ENDPOINT")
    if not endpoint:
        pytest.skip("no Fluvio cluster: set FLUVIO_ENDPOINT=host:port (e.g. 127.0.0.1:9003)")
    if not _reachable(endpoint):
        pytest.skip(f"the Fluvio cluster at FLUVIO_ENDPOINT={endpoint} does not answer")
    workdir = Path(tempfile.mkdtemp(prefix="fluvio-cli-"))
    try:
        (workdir / ".fluvio").mkdir()
        (workdir / ".fluvio" / "config").write_text(PROFILE.format(endpoint=endpoint))
        yield FluvioCluster(endpoint, _find_cli(workdir), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
