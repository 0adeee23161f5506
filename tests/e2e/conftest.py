"""Fixtures for the end-to-end suite: one real Airflow per session, a fresh headless Chromium per test.

Airflow runs as four processes (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1 with
the repository's ``dags_examples/`` as its DAGs folder. Starting it costs 20-40 s on two cores, so it
is started once per session, with a FLUVIO_CONNECTORS_HOME of its own (not the per-test one
tests/conftest.py gives the test process): every Airflow process, and every task and connector they
start, uses it, and the tests look at what the DAG runs left there with the ``fluvio-connector`` CLI.
The whole suite takes about two minutes; ``-m "not e2e"`` leaves it out.

The browser is Debian's Chromium (``FLUVIO_E2E_CHROMIUM`` names another binary) driven by
Playwright's Python package; Playwright's own browser download is impossible here. Without Chromium
or Playwright the browser tests are skipped with the reason, except under CI (``CI=true``), where
``scripts/install-e2e-deps.sh`` has run and a missing browser is an error rather than a silent skip.
The tests that use only the REST API run either way.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow_api import AirflowApi
from airflow_cluster import AirflowCluster
from e2e_browser import CHROMIUM_ARGS, Screenshots
from e2e_connectors import delete_leftover_connectors

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = Path(os.environ.get("FLUVIO_E2E_CHROMIUM", "/usr/bin/chromium"))
UI_TIMEOUT_MS = 60_000  # how long an action or an assertion on the page may wait for it


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``e2e`` marker (real Airflow components, real browser)."""
    config.addinivalue_line("markers", "e2e: end-to-end: real Airflow (api-server, scheduler, dag-processor, triggerer), browser")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item so the page fixture can screenshot a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``test-artifacts/e2e/`` (gitignored), emptied at the start of the session."""
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[AirflowCluster]:
    """A running Airflow on the example DAGs; stopped, with every process it started, at the end."""
    root = tmp_path_factory.mktemp("e2e-airflow")
    cluster = AirflowCluster(
        root=root,
        dags_folder=ROOT / "dags_examples",
        fluvio_home=root / "fluvio-home",
        # The example DAGs' sensors take Airflow's default: this deployment defers them, so their
        # waits go through the triggerer process (the path dag.test() never exercises).
        extra_env={"AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"},
    )
    cluster.start()
    try:
        yield cluster
    finally:
        leftovers = delete_leftover_connectors(cluster)
        killed = cluster.stop()
        logs = artifacts_dir / "logs"
        shutil.copytree(cluster.logs_dir, logs, dirs_exist_ok=True)
        print(f"\nAirflow component logs: {logs}")
        if killed:
            print(f"processes that needed SIGKILL at teardown: {killed}")
        if leftovers:
            print(f"connectors left running by the tests (deleted at teardown): {leftovers}")


@pytest.fixture(scope="session")
def api(airflow: AirflowCluster) -> Iterator[AirflowApi]:
    """The public REST API of ``airflow``, authenticated as the admin with a JWT from ``/auth/token``."""
    with airflow.client() as client:
        yield AirflowApi(client)


# ----------------------------------------------------------------------------------------------- browser


def _browser_unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium not installed at {CHROMIUM} (scripts/install-e2e-deps.sh installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (scripts/install-e2e-deps.sh installs it)"
    return None


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium binary; skip the browser tests without it (fail under CI, which installs it)."""
    reason = _browser_unavailable()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI must run scripts/install-e2e-deps.sh before the tests")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def page(chromium: Path, tmp_path: Path) -> Iterator[Page]:
    """A page in a fresh headless Chromium (new user-data directory, so no cookies from another test)."""
    from playwright.sync_api import expect, sync_playwright

    # Playwright's assertions wait 5 s by default: a page on a machine whose cores are busy can take
    # longer to show what it will show. Waits end at the event; this only moves the deadline.
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@pytest.fixture
def screenshots(page: Page, artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Screenshots]:
    """Screenshots for this test; a failing test also gets a screenshot of where it stopped."""
    shots = Screenshots(page, artifacts_dir, ROOT, request.node.name.removeprefix("test_"))
    yield shots
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shots.take("failure", "the page when the test failed")
