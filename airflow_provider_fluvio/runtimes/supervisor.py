"""The local runtime's supervisor: one detached process per connector.

It runs the connector program (``python -m <module> --config STATE_DIR/config.yaml``), restarts it
with exponential backoff when it crashes (as a Deployment would), stops restarting when the program
finishes on its own (exit 0: a finite ``count``), and records what happened in ``supervisor.json``
in the connector's state directory, where any process can read it.

Liveness (a Kubernetes liveness probe, in small): the program rewrites its status file every few
seconds while it makes progress. A program that has not done so for ``liveness_timeout`` seconds
(stopped with SIGSTOP, deadlocked, stuck in a call) is stopped (SIGTERM and SIGCONT, SIGKILL after
``stop_timeout``) and restarted like a crashed one.

The program never outlives its supervisor: it is started with the parent-death signal set to
SIGTERM (Linux ``prctl``), and told the supervisor's pid (``FLUVIO_CONNECTOR_SUPERVISOR_PID``) so
that it also stops by itself once its parent is gone.

Started by ``LocalRuntime`` as ``python -I -S supervisor.py STATE_DIR --module M [policy options]``
with the program's environment (secrets included: they never touch the disk). It detaches itself
(fork, then ``setsid``: its own session and process group, so it outlives the command or Airflow
task that created it and is not hit by that terminal's or task's signals), writes its pid on stdout
once it is ready to be signalled, and stops on SIGTERM/SIGINT: SIGTERM to the program, SIGKILL after
``stop_timeout``.

This file is run by path with ``-I -S`` and imports only the standard library: the supervisor starts in
a few milliseconds and nothing it imports can shadow or slow it. ``LocalRuntime`` imports it for the
file names and the state record.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.yaml"
LOG_FILE = "connector.log"
STATE_FILE = "supervisor.json"
STATUS_FILE = "status.json"  # written by the connector program (FLUVIO_CONNECTOR_STATUS_FILE)
STATUS_FILE_ENV = "FLUVIO_CONNECTOR_STATUS_FILE"  # same name as fluvio_connectors.status (no import here)
SUPERVISOR_PID_ENV = "FLUVIO_CONNECTOR_SUPERVISOR_PID"  # same name as fluvio_connectors.runner
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Supervisor phases (what the supervisor is doing, not the connector's status).
STARTING = "starting"  # the program is launched and not ready yet
RUNNING = "running"  # the program reported ready at least once in this run
CONFIG_ERROR_EXIT = 2  # fluvio_connectors.errors.ConfigError.exit_code (not imported: stdlib only)
BACKOFF = "backoff"  # the program crashed; waiting before the next start
FINISHED = "finished"  # the program exited 0 on its own; the supervisor has exited
STOPPED = "stopped"  # stopped by a signal (delete); the supervisor has exited

TICK_SECONDS = 0.05
SAVE_RETRY_SECONDS = 1.0  # a state that could not be written is tried again this often
LOG_CHECK_SECONDS = 1.0  # how often the log's size is looked at
DISK_FULL_BYTES = 64 * 1024  # less free space than this on a filesystem is a full disk


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart and when a crash loop is declared (Kubernetes' CrashLoopBackOff, in small)."""

    backoff_initial: float = 0.5  # delay before the first restart; doubles on each crash in a row
    backoff_max: float = 30.0
    max_crashes: int = 5  # this many crashes within crash_window mean a crash loop (Failed)
    crash_window: float = 60.0
    stable_after: float = 10.0  # ready this long: the crash count and the crash loop are cleared
    stop_timeout: float = 10.0  # SIGTERM to SIGKILL
    # No heartbeat (status file rewrite) for this long: the program is stopped or hung, and restarted.
    # fluvio_connectors.status.STALE_AFTER_SECONDS, the threshold of the Kubernetes liveness probe.
    liveness_timeout: float = 30.0
    # connector.log beyond this many bytes is moved to connector.log.1 (replacing it) and emptied.
    log_max_bytes: int = 10 * 1024 * 1024

    def to_args(self) -> list[str]:
        return [f"--{f.name.replace('_', '-')}={getattr(self, f.name)}" for f in fields(self)]

    def delay(self, crashes_in_a_row: int) -> float:
        return float(min(self.backoff_initial * 2 ** max(crashes_in_a_row - 1, 0), self.backoff_max))


@dataclass
class SupervisorState:
    """``supervisor.json``: what the supervisor last did. Never holds secrets."""

    phase: str
    pid: int
    module: str
    started_at: float = field(default_factory=time.time)
    program_pid: int | None = None
    program_started_at: float | None = None
    ready_at: float | None = None  # when the current run first reported ready
    # Since when the connector has not been serving (ready or finished); None while it is.
    pending_since: float | None = field(default_factory=time.time)
    restarts: int = 0
    crash_loop: bool = False
    last_exit_code: int | None = None
    last_error: str | None = None
    next_start_at: float | None = None
    updated_at: float = field(default_factory=time.time)

    @classmethod
    def from_dict(cls, data: Any) -> SupervisorState:
        """The state in ``data``; ``ValueError`` naming the first field that is not what the
        supervisor writes (a hand-edited or damaged file: ``pid: "abc"``, a JSON array)."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        for name in ("phase", "pid", "module"):
            if name not in data:
                raise ValueError(f"{name}: missing")
        values = {k: v for k, v in data.items() if k in _FIELD_CHECKS}
        for name, value in values.items():
            problem = _FIELD_CHECKS[name](value)
            if problem:
                raise ValueError(f"{name}: expected {problem}, got {_shown(value)}")
        return cls(**values)


def _whole(minimum: int, optional: bool = False) -> Any:
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        return None if ok else f"a whole number from {minimum}" + (" or null" if optional else "")
    return check


def _number(optional: bool = False) -> Any:
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "a number" + (" or null" if optional else "")
    return check


def _text(optional: bool = False, choices: tuple[str, ...] = ()) -> Any:
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        if isinstance(value, str) and (not choices or value in choices):
            return None
        return f"one of {', '.join(choices)}" if choices else "a string" + (" or null" if optional else "")
    return check


def _shown(value: Any) -> str:
    text = json.dumps(value)[:40]
    return "".join(c if c.isprintable() else "?" for c in text)


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


# What each field of supervisor.json may hold (None: fine, else what is expected).
_FIELD_CHECKS = {
    "phase": _text(choices=("starting", "running", "backoff", "finished", "stopped")),
    "pid": _whole(2),  # never 0, 1 or a negative pid: those name process groups or init
    "module": _text(),
    "started_at": _number(),
    "program_pid": _whole(2, optional=True),
    "program_started_at": _number(optional=True),
    "ready_at": _number(optional=True),
    "pending_since": _number(optional=True),
    "restarts": _whole(0),
    "crash_loop": _flag,
    "last_exit_code": _whole(-255, optional=True),
    "last_error": _text(optional=True),
    "next_start_at": _number(optional=True),
    "updated_at": _number(),
}


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write by rename, so a reader never sees half a file. The file is private (0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_state(state_dir: Path) -> SupervisorState | None:
    """``supervisor.json``, or None when it is missing, unreadable or damaged (``load_state`` says why)."""
    try:
        return load_state(state_dir)
    except ValueError:
        return None


def load_state(state_dir: Path) -> SupervisorState | None:
    """``supervisor.json``: None when there is none yet; ``ValueError`` saying what is wrong with
    one that cannot be read or holds what the supervisor never writes."""
    path = state_dir / STATE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {STATE_FILE} ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError(f"{STATE_FILE} is not JSON") from None
    try:
        return SupervisorState.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{STATE_FILE}: {exc}") from None


# What the fields of the program's status file that anyone reads may hold.
_STATUS_CHECKS = {
    # fluvio_connectors.status.ProgramState (this file runs with the standard library only)
    "state": _text(choices=("starting", "ready", "reconnecting", "finished", "stopped", "failed", "halted")),
    "pid": _whole(0),
    "updated_at": _number(),
    "started_at": _number(),
    "records": _whole(0),
    "records_known": _flag,
    "last_error": _text(optional=True),
    "direction": _text(choices=("source", "sink")),
    "position": _whole(0, optional=True),
    "lag": _whole(-(2**63), optional=True),  # below 0 after its topic was replaced by a shorter one
}


def read_program_status(state_dir: Path) -> dict[str, Any] | None:
    """The program's status file as a dict (the fields of fluvio_connectors.status.ProgramStatus);
    None when it is missing, unreadable or holds what no program writes (it is rewritten often:
    a damaged one is as good as none)."""
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if any(name in data and _STATUS_CHECKS[name](data[name]) for name in _STATUS_CHECKS):
        return None
    counters = data.get("counters")
    if counters is not None and not (
        isinstance(counters, dict) and all(_whole(0)(v) is None for v in counters.values())
    ):
        return None
    return data


def last_line(path: Path, start: int, limit: int = 64 * 1024) -> str | None:
    """The last non-empty line written to ``path`` after byte ``start`` that is not ours."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if start > size:  # rotated meanwhile: what is there is all new
                start = 0
            handle.seek(max(start, size - limit))
            chunk = handle.read()
    except OSError:
        return None
    for raw in reversed(chunk.decode("utf-8", errors="replace").splitlines()):
        line = raw.strip()
        if line and " supervisor: " not in line:
            return line[:500]
    return None


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


LIVENESS_PREFIX = "no heartbeat for "  # how the reason for a liveness restart begins


def exit_and_error(code: int | None, error: str | None) -> str:
    """How a run ended, each fact once: ``exit code 1: topic t does not exist``, ``killed by SIGKILL``,
    ``no heartbeat for 31s: stopped or hung (killed by SIGKILL)``."""
    how = "exit unknown" if code is None else describe_exit(code)
    if not error or error == how:
        return how
    if error.startswith(LIVENESS_PREFIX):
        return f"{error} ({how})"
    return f"{how}: {error}"


def die_with_supervisor(supervisor: int) -> Any:
    """A ``preexec_fn`` for the program: the kernel sends it SIGTERM when the supervisor dies
    (``PR_SET_PDEATHSIG``, Linux), and it gives up at once if the supervisor is already gone.
    None where ``prctl`` does not exist (the program's own parent watch still applies)."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != supervisor:  # died between the fork and prctl
            os._exit(1)

    return preexec


def disk_full(path: Path) -> bool:
    """Whether the filesystem holding ``path`` has (next to) no space left for its user."""
    try:
        info = os.statvfs(path)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < DISK_FULL_BYTES


def says_disk_full(text: str | None) -> bool:
    """Whether an error message is a full disk's (SQLite's and the kernel's wording)."""
    lowered = (text or "").lower()
    return "disk is full" in lowered or os.strerror(errno.ENOSPC).lower() in lowered


def rotate_log(path: Path) -> None:
    """Keep the log's lines so far in ``NAME.1`` (replacing the older ones there) and empty the log.

    Copy, then truncate: the program and the supervisor keep writing to their open descriptors of
    the log (``O_APPEND``: after the truncation they write from its start), which a rename would
    leave pointing at the old file. Lines written between the last copy and the truncation (a
    fraction of a millisecond) are lost. When the copy cannot be made (a full disk) the log is
    emptied all the same: a log that fills the disk would stop the connector."""
    rotated = path.with_name(path.name + ".1")
    partial = path.with_name(f".{path.name}.1.tmp")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out, path.open("rb") as log:
            while chunk := log.read(1024 * 1024):  # to the end, and what was written meanwhile
                out.write(chunk)
            os.truncate(path, 0)
        os.replace(partial, rotated)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        with contextlib.suppress(OSError):
            os.truncate(path, 0)


class Supervisor:
    def __init__(self, state_dir: Path, module: str, policy: RestartPolicy, python: str) -> None:
        self.dir = state_dir
        self.module = module
        self.policy = policy
        self.python = python
        self.stop_requested = False
        self.orphaned = False  # the state directory was removed: stop, write nothing
        self.state = SupervisorState(phase=STARTING, pid=os.getpid(), module=module)
        self.crashes: deque[float] = deque()
        self.in_a_row = 0
        self.log_path = state_dir / LOG_FILE
        self.status_path = state_dir / STATUS_FILE
        self.preexec = die_with_supervisor(os.getpid())
        self.identity = _identity(state_dir)
        self.write_error: str | None = None  # why supervisor.json cannot be written now
        self.save_again_at = 0.0
        self.log_checked_at = 0.0

    # ---- bookkeeping

    def save(self, **changes: Any) -> None:
        """Record ``changes`` in ``supervisor.json``. A write that fails (a full disk) is no reason
        to die: the state is kept here and written again every ``SAVE_RETRY_SECONDS``."""
        for key, value in changes.items():
            setattr(self.state, key, value)
        self.state.updated_at = time.time()
        try:
            write_json_atomic(self.dir / STATE_FILE, asdict(self.state))
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if self.write_error is None:
                self.log(f"cannot write {STATE_FILE} ({reason}); running on, writing it again once it can")
            self.write_error = reason
            self.save_again_at = time.monotonic() + SAVE_RETRY_SECONDS
            return
        if self.write_error is not None:
            self.log(f"{STATE_FILE} written again")
        self.write_error = None

    def housekeeping(self) -> bool:
        """Between two looks at the program: notice a removed state directory (False: stop), write
        a state that could not be written, rotate the log."""
        if _identity(self.dir) != self.identity or not os.path.exists(self.dir / CONFIG_FILE):
            if not self.orphaned:
                self.log(f"its state directory {self.dir} was removed: stopping the connector")
            self.orphaned = self.stop_requested = True
            return False
        now = time.monotonic()
        if self.write_error is not None and now >= self.save_again_at:
            self.save()
        if now - self.log_checked_at >= LOG_CHECK_SECONDS:
            self.log_checked_at = now
            try:
                size = self.log_path.stat().st_size
            except OSError:
                size = 0
            if size > self.policy.log_max_bytes:
                rotate_log(self.log_path)
                self.log(f"{LOG_FILE} reached {size} bytes: its earlier lines are in {LOG_FILE}.1")
        return True

    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        with contextlib.suppress(OSError):
            os.write(2, f"{stamp}Z supervisor: {message}\n".encode())

    def request_stop(self, signum: int, _frame: Any) -> None:
        self.stop_requested = True

    # ---- one run of the program

    def start_program(self) -> tuple[subprocess.Popen[bytes], int]:
        with contextlib.suppress(FileNotFoundError):
            self.status_path.unlink()  # a new run starts with no status: never a stale "ready"
        env = dict(os.environ)
        env[STATUS_FILE_ENV] = str(self.status_path)
        env[SUPERVISOR_PID_ENV] = str(os.getpid())
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [self.python, "-m", self.module, "--config", str(self.dir / CONFIG_FILE)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=self.dir,
                preexec_fn=self.preexec,
            )
        attempt = self.state.restarts + 1
        self.log(f"started {self.module} (pid {proc.pid}, run {attempt})")
        self.save(phase=STARTING, program_pid=proc.pid, program_started_at=time.time(), ready_at=None,
                  next_start_at=None)
        return proc, offset

    def watch(self, proc: subprocess.Popen[bytes]) -> tuple[int | None, str | None]:
        """Wait for the program to exit (``(code, None)``), for a stop request (``(None, None)``), or
        until it has not heartbeaten for ``liveness_timeout`` (stopped: ``(code, why)``)."""
        stamp: object = None
        changed_at = last_tick = time.monotonic()  # when the heartbeat last changed (or the program started)
        while True:
            code = proc.poll()
            if code is not None:
                return code, None
            if self.stop_requested or not self.housekeeping():
                return None, None
            status = read_program_status(self.dir)
            if status is not None and status.get("pid") != proc.pid:
                status = None  # an earlier run's
            now, tick = time.time(), time.monotonic()
            if tick - last_tick > 1.0:
                # This loop did not run (the supervisor was stopped too, or starved): silence is
                # counted only while the supervisor watches, so a stopped and continued process
                # group is not taken for a hung program.
                changed_at += tick - last_tick
            last_tick = tick
            if status is not None and status.get("updated_at") != stamp:
                stamp, changed_at = status.get("updated_at"), tick
            program_state = status.get("state") if status else None
            self.serving(program_state in ("ready", "finished"), now)
            if self.state.ready_at is None:
                if program_state == "ready":
                    self.save(phase=RUNNING, ready_at=now)
            elif now - self.state.ready_at >= self.policy.stable_after and (self.in_a_row or self.crash_loop):
                self.crashes.clear()
                self.in_a_row = 0
                self.save(crash_loop=False)
            silent = tick - changed_at
            if silent >= self.policy.liveness_timeout:
                said = str((status or {}).get("last_error") or "")
                why = f"{LIVENESS_PREFIX}{silent:.0f}s: " + (said if said.startswith("hung: ") else "stopped or hung")
                self.log(f"{self.module} (pid {proc.pid}): {why}; restarting it")
                self.stop_program(proc)
                return proc.wait(), why
            time.sleep(TICK_SECONDS)

    def serving(self, serving: bool, now: float) -> None:
        """Keep ``pending_since``: when the connector last stopped serving (None while it serves)."""
        if serving and self.state.pending_since is not None:
            self.save(pending_since=None)
        elif not serving and self.state.pending_since is None:
            self.save(pending_since=now)

    @property
    def crash_loop(self) -> bool:
        return self.state.crash_loop

    def stop_program(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        self.log(f"stopping {self.module} (pid {proc.pid})")
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)  # a stopped program handles its SIGTERM too
        try:
            proc.wait(timeout=self.policy.stop_timeout)
        except subprocess.TimeoutExpired:
            self.log(f"{self.module} did not stop within {self.policy.stop_timeout:g}s; killing it")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()

    def crashed(self, proc: subprocess.Popen[bytes], code: int, log_offset: int, why: str | None = None) -> float:
        """Record a crash (``why``: the supervisor stopped it); returns the delay before the next start."""
        now = time.time()
        status = read_program_status(self.dir)
        error = why
        if error is None and code < 0:  # killed by a signal: its last log line is no error message
            error = describe_exit(code)
        elif error is None and status and status.get("pid") == proc.pid and status.get("last_error"):
            error = str(status["last_error"])
        error = error or last_line(self.log_path, log_offset) or describe_exit(code)
        # A full disk is no crash of the program: it comes back by itself once there is space (the
        # backoff goes on, the crash loop is not counted), and the runtime says the disk is full.
        full = says_disk_full(error) or disk_full(self.dir)
        if not full:
            self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > self.policy.crash_window:
            self.crashes.popleft()
        self.in_a_row += 1
        # Entering a crash loop needs max_crashes within the window; leaving it needs a stable run,
        # so a connector that crashes slowly (long backoffs) does not flap between Failed and Pending.
        # A bad config (the programs exit 2, ConfigError.exit_code) does not fix itself by restarting:
        # it is Failed at once, while restarts go on with backoff as for any crash.
        crash_loop = (self.state.crash_loop or len(self.crashes) >= self.policy.max_crashes
                      or (code == CONFIG_ERROR_EXIT and why is None and not full))
        delay = self.policy.delay(self.in_a_row)
        self.log(f"{self.module} {exit_and_error(code, error)}; restarting in {delay:g}s")
        self.save(phase=BACKOFF, restarts=self.state.restarts + 1, last_exit_code=code, last_error=error,
                  crash_loop=crash_loop, next_start_at=now + delay,
                  pending_since=self.state.pending_since or now)
        return delay

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop_requested and self.housekeeping() and time.monotonic() < deadline:
            time.sleep(min(TICK_SECONDS, max(deadline - time.monotonic(), 0)))

    def run(self) -> int:
        while not self.stop_requested:
            try:
                proc, offset = self.start_program()
            except OSError as exc:  # the interpreter vanished: count it as a crash of the program
                self.log(f"cannot start {self.module}: {exc}")
                self.save(last_error=f"cannot start {self.module}: {exc.strerror or exc}")
                self.sleep(self.policy.backoff_max)
                continue
            code, why = self.watch(proc)
            if code is None or self.stop_requested:  # a program killed by our stop is no crash
                self.stop_program(proc)
                break
            if code == 0 and why is None:
                status = read_program_status(self.dir)
                if status and status.get("pid") == proc.pid and status.get("state") == "stopped":
                    # Someone stopped the program itself (SIGTERM): a stop, not a finish.
                    self.log(f"{self.module} was stopped by a signal (exit code 0); not restarting it")
                    self.save(phase=STOPPED, last_exit_code=0, pending_since=None)
                    return 0
                self.log(f"{self.module} finished (exit code 0)")
                self.save(phase=FINISHED, last_exit_code=0, pending_since=None)
                return 0
            self.sleep(self.crashed(proc, code, offset, why))
        if self.orphaned:  # nothing to record it in: the directory is gone
            self.log("stopped")
            return 0
        self.log("stopped")
        self.save(phase=STOPPED)
        return 0


def detach() -> None:
    """Fork; the parent exits at once, the child leads a new session and process group."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def parse_args(argv: list[str]) -> tuple[Path, str, RestartPolicy, str]:
    parser = argparse.ArgumentParser(prog="supervisor")
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("--module", required=True)
    parser.add_argument("--python", default=sys.executable)
    for f in fields(RestartPolicy):
        kind = int if f.type in ("int", int) else float
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=f.default)
    args = parser.parse_args(argv)
    policy = RestartPolicy(**{f.name: getattr(args, f.name) for f in fields(RestartPolicy)})
    return args.state_dir.resolve(), args.module, policy, args.python


def main(argv: list[str] | None = None) -> int:
    state_dir, module, policy, python = parse_args(sys.argv[1:] if argv is None else argv)
    detach()
    supervisor = Supervisor(state_dir, module, policy, python)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    supervisor.save()
    # The handshake: the creator learns our pid only once we can be signalled and have a state file.
    try:
        os.write(1, f"{os.getpid()}\n".encode())
    except OSError:  # the creator died waiting for it: the connector is whole, so it runs all the same
        supervisor.log("its creator is gone (the handshake found no reader); starting the connector anyway")
    os.dup2(2, 1)  # stray output goes to the log, and the creator's pipe sees end-of-file
    return supervisor.run()


def _identity(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of ``path``: a directory removed (or replaced by another) no longer has it."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


if __name__ == "__main__":
    sys.exit(main())
