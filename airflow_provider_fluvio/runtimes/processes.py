"""Which processes are a local connector's: nothing is signalled unless it is proven ours.

A pid in ``supervisor.json`` may be stale (the machine restarted, the process died and the pid was
reused) or forged (a hand-edited file holding pid 1). A process counts as the connector's only when
all of these hold:

- its pid is 2 or more (0 and negative pids address process groups, 1 is init);
- its command line names the replica's state directory or its ``config.yaml`` (the supervisor is
  started as ``supervisor.py STATE_DIR``, the program as ``-m MODULE --config STATE_DIR/config.yaml``);
- its environment carries the marker the runtime gives the supervisor (and the program inherits):
  ``FLUVIO_CONNECTOR_STATE_DIR=STATE_DIR``, as it was when the process started
  (``/proc/PID/environ``);
- it started no later than the supervisor's record says it did (a reused pid belongs to a process
  started after ours ended), within ``START_SLACK`` of it, or after the connector's directory was
  made (a process found by the marker alone).

Signals go to single proven processes through ``psutil``, which checks the process's start time
again before each signal, never to a process group.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psutil import Process

MARKER_ENV = "FLUVIO_CONNECTOR_STATE_DIR"
MIN_PID = 2
# psutil's start time comes from clock ticks since a boot time in whole seconds: allow that much.
START_PRECISION = 1.5
# A recorded start time (taken just after the process started) may trail the real one by this much
# on a busy machine.
START_SLACK = 300.0


def valid_pid(pid: object) -> bool:
    """A pid this runtime may ever look at: a whole number of at least 2."""
    return isinstance(pid, int) and not isinstance(pid, bool) and pid >= MIN_PID


def proven(pid: object, state_dir: Path, started: float | None = None, *, not_before: float | None = None) -> Process | None:
    """The ``psutil.Process`` of ``pid`` when it is this replica's (see the module docstring),
    else None. ``started``: the start time recorded for it; ``not_before``: without a record, the
    time before which no process of the connector can have started."""
    if not valid_pid(pid):
        return None
    import psutil

    try:
        proc = psutil.Process(pid)  # type: ignore[arg-type]
        if proc.status() == psutil.STATUS_ZOMBIE or not names_state_dir(proc.cmdline(), state_dir):
            return None
        if proc.environ().get(MARKER_ENV) != str(state_dir):
            return None
        created = proc.create_time()
    except (psutil.Error, OSError):  # gone, a zombie, or not ours to look at (AccessDenied)
        return None
    if started is not None and not started - START_SLACK <= created <= started + START_PRECISION:
        return None
    if not_before is not None and created < not_before - START_PRECISION:
        return None
    return proc


def names_state_dir(cmdline: Iterable[str], state_dir: Path) -> bool:
    ours = {str(state_dir), str(state_dir / "config.yaml")}
    return any(arg in ours for arg in cmdline)


def running_state(proc: Process) -> str | None:
    """``"running"``, ``"stopped"`` (SIGSTOP, SIGTSTP) or None (gone or a zombie) of a proven process."""
    import psutil

    try:
        status = proc.status()
    except psutil.Error:
        return None
    if status == psutil.STATUS_ZOMBIE:
        return None
    return "stopped" if status in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP) else "running"


def marked(state_dir: Path, not_before: float | None) -> list[Process]:
    """Every live process proven to be of the replica in ``state_dir`` by its command line and its
    marker alone (started after ``not_before``): what is left when its records are gone or damaged."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if names_state_dir(proc.info["cmdline"] or (), state_dir):
                mine = proven(proc.pid, state_dir, not_before=not_before)
                if mine is not None:
                    found.append(mine)
    return found


def send(procs: Iterable[Process], *signals: signal.Signals) -> None:
    """Send ``signals`` to each process (psutil checks it is still the same process first)."""
    import psutil

    for proc in procs:
        for signum in signals:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signum)


def alive(procs: Iterable[Process]) -> list[Process]:
    """The processes of ``procs`` still running (zombies count as gone)."""
    return [proc for proc in procs if running_state(proc) is not None]


__all__ = ["MARKER_ENV", "alive", "marked", "names_state_dir", "proven", "running_state",
           "send", "valid_pid"]
