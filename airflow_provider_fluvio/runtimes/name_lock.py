"""A cross-process lock per connector name whose file goes away with the connector.

Creates and deletes of one name are serialised by ``flock`` on ``.locks/NAME.lock``. A lock file
is removed on release when its connector does not exist (deleted, never created, or a create that
failed), so ``.locks/`` holds files only for connectors that exist, not for every name ever asked
about.

Removing a lock file is safe because a holder checks, once it has the lock, that the file it
locked is still the one at the path; a waiter that locked a file removed meanwhile tries again on
the new one. Without that check two processes could each hold "the" lock of a name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from fluvio_connectors.errors import BackendError
from fluvio_connectors.names import check_connector_name
from fluvio_connectors.state_dir import PRIVATE_FILE, private_dir, unusable

POLL_SECONDS = 0.05


@contextlib.contextmanager
def name_lock(locks: Path, name: str, timeout: float, keep: Callable[[], bool]) -> Iterator[None]:
    """Hold the lock of connector ``name`` in directory ``locks`` (waiting up to ``timeout`` s);
    on release the file is removed unless ``keep()`` (the connector exists)."""
    check_connector_name(name)  # the name becomes a file name: never a path
    private_dir(locks)
    path = locks / f"{name}.lock"
    fd = _acquire(path, name, timeout)
    try:
        yield
    finally:
        try:
            if not keep():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        finally:
            os.close(fd)  # closing releases the flock


def _acquire(path: Path, name: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        except OSError as exc:
            raise unusable(path.parent, exc, f"create the lock file {path.name}") from None
        try:
            if _lock_before(fd, deadline) and _still_at(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        if time.monotonic() >= deadline:
            raise BackendError(f"connector {name} is locked by another create or delete for over {timeout:g}s")


def _lock_before(fd: int, deadline: float) -> bool:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)  # flock has no timeout: poll until the deadline


def _still_at(fd: int, path: Path) -> bool:
    """The locked file is the one at ``path`` (not one removed by the previous holder)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    locked = os.fstat(fd)
    return (current.st_dev, current.st_ino) == (locked.st_dev, locked.st_ino)
