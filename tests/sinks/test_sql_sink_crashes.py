"""Exactly once, the hard way: 100,000 records through sql-sink while the sink is SIGKILLed five
times at random moments, or while PostgreSQL crashes (``pg_ctl stop -m immediate``) and comes back
5 s later. The table must hold each record once: as many rows as records, and as many distinct keys.

The table has no unique key on purpose: a record written twice would be a second row. The kill
moments are random (the seed is printed, a failure can be replayed with ``FLUVIO_TEST_SEED``): each
kill waits for a random number of delivered records and a random fraction of a batch's time.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from postgres_server import PostgresServer
from sink_fixtures import SqlDatabase, create_sink, produce, sql_sink_config, wait_status, wait_until

from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.local import LocalRuntime

RECORDS = 100_000
KILLS = 5
PAYLOAD = "x" * 58  # a record of about 100 bytes
MAPPING = {"table": "events", "map-columns": {
    "id": {"json-key": "id", "value": {"type": "bigint", "required": True}},
    "device": {"json-key": "device", "value": {"type": "text"}},
    "payload": {"json-key": "payload", "value": {"type": "text"}},
}}




@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get("FLUVIO_TEST_SEED") or time.time_ns() % 1_000_000)
    print(f"FLUVIO_TEST_SEED={seed}")
    return random.Random(seed)


def records() -> Iterator[str]:
    for i in range(RECORDS):
        yield f'{{"id": {i}, "device": "d{i % 97}", "payload": "{PAYLOAD}"}}'


def next_offset(database: SqlDatabase) -> int:
    try:
        rows = database.execute("SELECT next_offset FROM fluvio_sink_offsets")
    except Exception:  # not created yet, or the database is restarting
        return -1
    return int(rows[0][0]) if rows else -1


def assert_each_record_once(database: SqlDatabase) -> None:
    assert database.count("events") == RECORDS
    assert database.count("events", "DISTINCT id") == RECORDS
    assert database.execute("SELECT next_offset, delivered, skipped FROM fluvio_sink_offsets") == [(RECORDS, RECORDS, 0)]


def start(runtime: LocalRuntime, database: SqlDatabase, topic: str, **parameters: Any) -> None:
    database.execute("CREATE TABLE events (id BIGINT NOT NULL, device TEXT, payload TEXT)")
    assert produce(topic, records(), batch=5000) == RECORDS
    create_sink(runtime, sql_sink_config("events-sink", topic, database.url, MAPPING,
                                         **parameters))


def test_sigkilled_five_times_at_random_moments(runtime: LocalRuntime, database: SqlDatabase, topics_backend: str,
                                               topic_name: Any, rng: random.Random) -> None:
    start(runtime, database, topic_name("events"))
    state_dir = runtime.root / "events-sink"
    thresholds = sorted(rng.sample(range(2_000, RECORDS - 10_000, 500), KILLS))
    killed = []
    for threshold in thresholds:
        wait_until(lambda t=threshold: next_offset(database) >= t, 120, f"{threshold} records delivered")
        time.sleep(rng.uniform(0, 0.02))  # a random point inside the transaction cycle
        state = sv.read_state(state_dir)
        assert state is not None and state.program_pid
        os.kill(state.program_pid, signal.SIGKILL)
        killed.append((next_offset(database), state.program_pid))
        wait_until(lambda pid=state.program_pid: (s := sv.read_state(state_dir)) and s.program_pid != pid, 60,
                   "the supervisor to restart the sink")
    assert len(killed) == KILLS and all(at < RECORDS for at, _ in killed), killed  # every kill was mid-stream
    wait_until(lambda: next_offset(database) == RECORDS, 180, f"{RECORDS} records delivered")
    assert_each_record_once(database)
    assert runtime.status("events-sink").restarts >= KILLS


def test_postgresql_crashes_and_comes_back(runtime: LocalRuntime, pg_database: SqlDatabase, postgres: PostgresServer,
                                          topics_backend: str, topic_name: Any, rng: random.Random) -> None:
    start(runtime, pg_database, topic_name("events"), **{"backoff-min": "100ms", "backoff-max": "1s"})
    crash_at = rng.randrange(10_000, RECORDS // 2)
    wait_until(lambda: next_offset(pg_database) >= crash_at, 120, f"{crash_at} records delivered")
    postgres.stop("immediate")
    try:
        info = wait_until(lambda: (i := runtime.status("events-sink")).status.value == "Pending" and i, 60,
                          "the sink to notice")
        assert info.reason is not None and info.reason.startswith("reconnecting: ")
        time.sleep(5)  # the scenario: the database is down for 5 s
    finally:
        postgres.start()
    wait_until(lambda: next_offset(pg_database) == RECORDS, 180, f"{RECORDS} records delivered")
    assert_each_record_once(pg_database)
    wait_status(runtime, "events-sink", "Running")
