"""The main job: run the test-connector example DAG end to end in real Airflow and show the records.

    .venv/bin/python scripts/demo.py [--count N] [--verbose]

On a throwaway Airflow home (SQLite metadata DB, created here) and a throwaway state directory
(FLUVIO_CONNECTORS_HOME: the embedded topic log and the local connector processes), it runs
``dags_examples/example_fluvio_test_connector.py`` with ``dag.test()``: create the connector from
its templated YAML file, wait until it runs and finishes, read and check its records, delete it.
Then it prints the records the DAG read and whether the connector is gone. Exit code 0 when the run
succeeded with every record and no connector left behind, 1 otherwise, 3 when it took too long.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAG_FILE = ROOT / "dags_examples" / "example_fluvio_test_connector.py"
TIME_LIMIT_SECONDS = 180


def _prepare_environment(airflow_home: Path, fluvio_home: Path, verbose: bool) -> None:
    """Airflow reads its configuration when first imported: everything is set before that."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO" if verbose else "WARNING",
            "FLUVIO_CONNECTORS_HOME": str(fluvio_home),
        }
    )
    # The demo runs on the embedded defaults, whatever this shell points at.
    for name in (
        "AIRFLOW_CONN_FLUVIO_DEFAULT",
        "FLUVIO_ENDPOINT",
        "FLUVIO_PROFILE",
        "FLUVIO_CONNECTORS_RUNTIME",
    ):
        os.environ.pop(name, None)


def _watchdog(limit: float, fluvio_home: Path) -> threading.Timer:
    """Exit with code 3 if the run takes longer than ``limit`` seconds, deleting any connector."""

    def expire() -> None:
        print(f"\ndemo: no result after {limit:g} s; giving up", file=sys.stderr, flush=True)
        _delete_leftovers(fluvio_home)
        os._exit(3)  # dag.test() may be blocked in a loop that ignores signals

    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()
    return timer


def _delete_leftovers(fluvio_home: Path) -> list[str]:
    try:
        from airflow_provider_fluvio.runtimes.local import LocalRuntime
        from fluvio_connectors.settings import Settings

        runtime = LocalRuntime(Settings.from_env({"FLUVIO_CONNECTORS_HOME": str(fluvio_home)}))
        names = [info.name for info in runtime.list()]
        for name in names:
            runtime.delete(name)
        return names
    except Exception as exc:  # the demo's verdict matters more than this clean-up
        print(f"demo: could not clean up connectors in {fluvio_home}: {exc}", file=sys.stderr)
        return []


def _load_dag() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("example_fluvio_test_connector", DAG_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _xcom(dag_id: str, run_id: str, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key="return_value")
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def run(count: int, verbose: bool) -> int:
    import warnings

    # dag.test() runs Airflow's execution API in process through starlette's test client.
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from airflow.utils import db

    print("demo: creating the Airflow metadata database (SQLite) ...", flush=True)
    db.resetdb()
    dag = _load_dag()
    print(f"demo: running DAG {dag.dag_id} with dag.test() (count={count}) ...", flush=True)
    started = time.monotonic()
    dag_run = dag.test(run_conf={"count": count})
    elapsed = time.monotonic() - started

    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
    order = (
        [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else sorted(states)
    )
    print(f"\nDAG run {dag_run.run_id}: {getattr(dag_run.state, 'value', dag_run.state)} in {elapsed:.1f} s")
    for task_id in order:
        print(f"  {task_id:<18} {states.get(task_id)}")

    created = _xcom(dag.dag_id, dag_run.run_id, "create_connector") or {}
    values = _xcom(dag.dag_id, dag_run.run_id, "read_records") or []
    name = created.get("name")
    print(f"\nconnector {name} (topic {created.get('topic')}): the DAG read {len(values)} record(s):")
    for value in values:
        print(f"  {value}")

    from airflow_provider_fluvio.hooks.fluvio import FluvioHook

    hook = FluvioHook()
    left = [info.name for info in hook.list_connectors()]
    gone = bool(name) and name not in left
    print(
        f"\nconnector {name} deleted: {'yes' if gone else 'NO'}"
        + (f" (still there: {', '.join(left)})" if left else "")
    )
    kept = (
        len(hook.read_records(created["topic"]))
        if created.get("topic") and hook.topic_exists(created["topic"])
        else 0
    )
    print(f"topic {created.get('topic')} keeps its {kept} record(s) (deleting a connector keeps its topic)")

    expected = [f"Hello, Fluvio! - {i}" for i in range(1, count + 1)]
    ok = getattr(dag_run.state, "value", dag_run.state) == "success" and values == expected and gone
    print("\ndemo: OK" if ok else "\ndemo: FAILED", flush=True)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, default=10, help="records the test-connector produces (default 10)"
    )
    parser.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary Airflow and Fluvio homes")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="fluvio-demo-"))
    airflow_home, fluvio_home = workdir / "airflow", workdir / "fluvio"
    airflow_home.mkdir()
    fluvio_home.mkdir()
    _prepare_environment(airflow_home, fluvio_home, args.verbose)
    print(f"demo: working in {workdir}: the Airflow home (SQLite metadata database) in airflow/, the "
          "embedded topic log and the connector's state in fluvio/ (removed at the end unless --keep or "
          "a failure)", flush=True)
    print("demo: importing Airflow ...", flush=True)
    timer = _watchdog(TIME_LIMIT_SECONDS, fluvio_home)
    code = 1
    try:
        code = run(args.count, args.verbose)
    except Exception as exc:
        print(f"demo: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        timer.cancel()
        leftovers = _delete_leftovers(fluvio_home)
        if leftovers:
            print(f"demo: deleted connectors left behind: {', '.join(leftovers)}", file=sys.stderr)
            code = code or 1
        if args.keep or code:
            print(f"demo: state kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
