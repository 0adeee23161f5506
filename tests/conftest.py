"""Shared test set-up.

Airflow reads its configuration at import time, so its environment is set here, before any test
module imports it: a throwaway AIRFLOW_HOME with SQLite, no example DAGs, the project's
example DAGs folder. Every test gets its own FLUVIO_CONNECTORS_HOME (embedded log, local
connectors) so tests never share state.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fluvio_cluster import FluvioCluster, cluster_fixture

ROOT = Path(__file__).resolve().parent.parent
# tests/sinks' PostgreSQL server and HTTP receiver, for the sink tests of every directory
sys.path.insert(0, str(ROOT / "tests" / "sinks"))
from postgres_server import PostgresServer, postgres_server  # noqa: E402

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="fluvio-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags_examples"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME}/airflow.db")
# Tests never talk to a real Fluvio cluster unless a system test asks for it: a FLUVIO_ENDPOINT
# given to the test run is kept for tests/system as FLUVIO_SYSTEM_ENDPOINT.
_endpoint = os.environ.pop("FLUVIO_ENDPOINT", None)
if _endpoint:
    os.environ.setdefault("FLUVIO_SYSTEM_ENDPOINT", _endpoint)
os.environ.pop("FLUVIO_CONNECTORS_RUNTIME", None)


@pytest.fixture(autouse=True)
def fluvio_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh state directory for each test (embedded topic log, local connectors)."""
    home = tmp_path_factory.mktemp("fluvio-home")
    monkeypatch.setenv("FLUVIO_CONNECTORS_HOME", str(home))
    yield home


@pytest.fixture(scope="session")
def fluvio_cluster() -> Iterator[FluvioCluster]:
    """A real Fluvio cluster for the whole session (tests/fluvio_cluster.py says where it comes
    from); the tests that ask for it skip with the reason when there is none."""
    yield from cluster_fixture()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session (Debian's, started with initdb/pg_ctl on a
    free 127.0.0.1 port; stopped and removed after). Without it the tests that need it skip with
    the reason, unless ``FLUVIO_POSTGRES_REQUIRED=1`` (CI) makes that a failure."""
    with postgres_server() as server:
        if server is None:
            if os.environ.get("FLUVIO_POSTGRES_REQUIRED") == "1":
                pytest.fail("FLUVIO_POSTGRES_REQUIRED=1 but PostgreSQL is not installed (apt-get install postgresql)")
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
        yield server


@pytest.fixture(params=["embedded", pytest.param("fluvio", marks=pytest.mark.fluvio)])
def topics_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on both topics backends: the embedded log, then the real Fluvio cluster
    (``FLUVIO_ENDPOINT`` set for the test and every process it starts)."""
    if request.param == "fluvio":
        cluster: FluvioCluster = request.getfixturevalue("fluvio_cluster")
        monkeypatch.setenv("FLUVIO_ENDPOINT", cluster.endpoint)
    return str(request.param)


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``topic_name("t1")``: the name as given when the test has the embedded log to itself, made
    unique on a Fluvio cluster (shared by the whole session)."""
    on_fluvio = "topics_backend" in request.fixturenames and request.getfixturevalue("topics_backend") == "fluvio"
    suffix = f"-{uuid.uuid4().hex[:8]}" if on_fluvio else ""
    return lambda base: f"{base}{suffix}"
