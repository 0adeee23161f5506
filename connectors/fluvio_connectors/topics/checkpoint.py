"""Checkpoints of the embedded log, off the writer's path.

In WAL mode SQLite copies the write-ahead log back into the database file (a checkpoint) by
default inside the commit that makes the log exceed 1,000 pages, and with ``synchronous=NORMAL``
that checkpoint syncs both files to disk. The writer waits for it: on this kind of virtual disk
10-60 ms every 4 MB of log, which at 1,000 single-record commits a second (about three pages each)
is three stalls a second, and every message arriving during a stall waits too (the p99 latency).

Here a writer's connection checkpoints by itself only as a safety net (``WRITER_AUTOCHECKPOINT``
pages, when nothing else did); a ``Checkpointer`` thread does the work instead:

- nudged after each write, it runs a ``PASSIVE`` checkpoint at most every ``INTERVAL`` seconds
  on its own connection: writers keep committing meanwhile (SQLite appends to the log while the
  checkpoint copies and syncs);
- a passive checkpoint under steady writes never ends complete (new frames arrive while it syncs),
  and the log only starts over from its beginning after a complete one. So once the log holds
  ``RESET_FRAMES`` frames, the thread takes the writers' lock (``flock`` on ``<log>.lock``, the one
  writers queue on) for a last pass over the few frames written since: writers wait for that
  short pass (a few ms, once every 16 MB of log) and the next write starts the log over;
- it ends after ``IDLE_EXIT`` seconds without writes (a nudge starts it again), so an idle process
  keeps no thread and no connection;
- it also runs the log's ``maintenance`` (the retention pass, ``topics.retention``) at its first pass
  and then at most every ``maintenance_interval`` seconds, while the process writes.

Durability is unchanged: commits and checkpoints run with the log's ``synchronous`` setting.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fluvio_connectors.state_dir import PRIVATE_FILE

INTERVAL = 0.1  # seconds between two passive checkpoints at most
RESET_FRAMES = 4096  # log frames (~16 MB) after which a pass under the writers' lock resets the log
WRITER_AUTOCHECKPOINT = 4 * RESET_FRAMES  # a writer checkpoints by itself only past this (safety net)
IDLE_EXIT = 5.0  # seconds without a nudge after which the thread ends
BUSY_TIMEOUT_MS = 10_000

log = logging.getLogger("fluvio_connectors.topics")


class Checkpointer:
    """Runs the checkpoints of the log at ``path`` in a background thread (see the module docstring)."""

    def __init__(self, path: Path, lock_path: Path, synchronous: str,
                 maintenance: Callable[[], object] | None = None, maintenance_interval: float = 30.0) -> None:
        self.path = path
        self.lock_path = lock_path
        self.synchronous = synchronous
        self.maintenance = maintenance
        self.maintenance_interval = maintenance_interval
        self._maintained_at: float | None = None  # across restarts of the thread
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.passes = 0  # checkpoint passes run (for tests and benchmarks)
        self.resets = 0  # passes under the writers' lock
        self.longest_hold = 0.0  # seconds the writers waited for the longest of them

    def nudge(self) -> None:
        """Something was written: checkpoint soon (starts the thread if it is not running)."""
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            return
        with self._mutex:
            if self._stop.is_set():
                return
            thread = self._thread
            if thread is None or not thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()  # a forked child runs its own thread
                self._thread = threading.Thread(target=self._run, name="log-checkpoint", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread (after the pass it is in, if any)."""
        with self._mutex:
            self._stop.set()
            self._wake.set()
            thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:  # the writers' own autocheckpoint still bounds the log
            log.warning("cannot open the topic log %s for checkpoints: %s", self.path, exc)
            return
        try:
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            with os.fdopen(os.open(self.lock_path, flags, PRIVATE_FILE), "ab") as lock:  # as the writers open it
                while self._wake.wait(IDLE_EXIT) and not self._stop.is_set():
                    self._wake.clear()
                    self._pass(conn, lock.fileno())
                    self._maintain()
                    if self._stop.wait(INTERVAL):  # at most one pass per INTERVAL
                        break
        except (OSError, sqlite3.Error) as exc:  # best effort: the writers' autocheckpoint remains
            log.warning("checkpoints of the topic log %s stopped: %s", self.path, exc)
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _maintain(self) -> None:
        now = time.monotonic()
        if self.maintenance is None or self._stop.is_set() or (self._maintained_at is not None
                                        and now - self._maintained_at < self.maintenance_interval):
            return
        self._maintained_at = now
        try:
            self.maintenance()
        except Exception as exc:  # the next pass tries again; the writes go on regardless
            if not self._stop.is_set():  # the log being closed is no failure
                log.warning("retention pass of the topic log %s failed: %s", self.path, exc)

    def _pass(self, conn: sqlite3.Connection, lock_fd: int) -> None:
        # fetchall: a statement left unfinished would keep a read snapshot open, and that alone
        # keeps the log from ever starting over.
        _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        self.passes += 1
        if frames < RESET_FRAMES:
            return
        # Even a pass that copied every frame it saw is not complete by now if a writer committed
        # while it synced; under the writers' lock the last frames are copied and nothing is added.
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        held = time.monotonic()
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.resets += 1
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            self.longest_hold = max(self.longest_hold, time.monotonic() - held)


__all__ = ["INTERVAL", "RESET_FRAMES", "WRITER_AUTOCHECKPOINT", "Checkpointer"]
