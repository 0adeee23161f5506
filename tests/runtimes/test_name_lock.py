"""The per-name lock of the local runtime: exclusive across processes and threads, and its file
removed once the connector is gone, without ever letting two holders in (issue 11, item 2)."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest
from polling import wait_until

from airflow_provider_fluvio.runtimes.name_lock import name_lock
from fluvio_connectors.errors import BackendError, ConfigError


def test_the_lock_file_goes_with_a_missing_connector_and_stays_with_an_existing_one(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    with name_lock(locks, "gone", 5, keep=lambda: False):
        assert (locks / "gone.lock").exists()
    assert not (locks / "gone.lock").exists()
    with name_lock(locks, "kept", 5, keep=lambda: True):
        pass
    assert (locks / "kept.lock").exists()


@pytest.mark.parametrize("name", ["../x", "/abs/x", "a/b", "", "..", "UPPER"])
def test_a_name_that_is_a_path_creates_nothing(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="is not a valid connector name"), name_lock(tmp_path / "locks", name, 5, lambda: False):
        pass
    assert not list(tmp_path.iterdir())


def open_count(file_id: tuple[int, int]) -> int:
    """How many descriptors of this process are open on the file with this (device, inode)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            info = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += (info.st_dev, info.st_ino) == file_id
    return count


def file_id(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def test_a_waiter_on_a_removed_lock_file_does_not_get_in_beside_the_new_holder(tmp_path: Path) -> None:
    """A holds the lock; B waits on A's file; A releases and removes the file; C takes the lock on
    a new file. B, which then locks A's removed file, must notice and queue behind C."""
    locks = tmp_path / "locks"
    path = locks / "contended.lock"
    c_holds = threading.Event()
    b_got_in = threading.Event()
    b_saw_c_holding: list[bool] = []

    def waiter() -> None:
        with name_lock(locks, "contended", 60, keep=lambda: False):
            b_saw_c_holding.append(c_holds.is_set())
            b_got_in.set()

    with contextlib.ExitStack() as first:
        first.enter_context(name_lock(locks, "contended", 5, keep=lambda: False))
        a_file = file_id(path)
        b = threading.Thread(target=waiter)
        b.start()
        wait_until(lambda: open_count(a_file) == 2, 30, "B to open A's lock file")  # and wait on it
    with name_lock(locks, "contended", 60, keep=lambda: False):
        c_holds.set()
        c_file = file_id(path)
        # B queues on C's file (fixed code), or gets in beside C (the bug), or got in before C.
        wait_until(lambda: open_count(c_file) == 2 or b_got_in.is_set(), 30, "B to open C's lock file, or get in")
        c_holds.clear()
    b.join(timeout=60)
    assert b_got_in.is_set()
    assert b_saw_c_holding == [False]
    assert not list(locks.iterdir())


def test_a_held_lock_times_out_with_one_line(tmp_path: Path) -> None:
    with name_lock(tmp_path, "busy", 5, keep=lambda: True), pytest.raises(
        BackendError, match=r"connector busy is locked by another create or delete for over 0\.2s"
    ), name_lock(tmp_path, "busy", 0.2, keep=lambda: True):
        pass


def test_a_runtime_refuses_a_config_whose_name_was_never_validated(tmp_path: Path) -> None:
    from airflow_provider_fluvio.runtimes.local import LocalRuntime
    from fluvio_connectors.config import ConnectorConfig, load_config
    from fluvio_connectors.settings import Settings

    valid = load_config({"name": "ok", "type": "test", "topic": "t", "create_topic": True}, secrets={})
    forged = ConnectorConfig.model_construct(**{**dict(valid), "name": str(tmp_path / "victim")})
    runtime = LocalRuntime(Settings(home=tmp_path / "state"))
    with pytest.raises(ConfigError, match="is not a valid connector name"):
        runtime.create(forged)
    assert not list(tmp_path.iterdir())
