"""The local runtime (the default): each connector is a supervised process on this machine.

Per connector a directory ``$FLUVIO_CONNECTORS_HOME/connectors/NAME/`` holds:

- ``config.yaml``      the config in the seed's format, without secret values;
- ``connector.log``    the program's stdout and stderr, appended across restarts, with the
                       supervisor's own lines (``... supervisor: ...``);
- ``supervisor.json``  the supervisor's record: pid, phase, restarts, crash loop, last error;
- ``status.json``      the program's own status file (``FLUVIO_CONNECTOR_STATUS_FILE``).

The supervisor (``supervisor.py``) is detached from whoever created it, so the connector outlives
the CLI command or the Airflow task; ``list``/``status``/``delete`` read the directory and work from
any process. Secrets reach the supervisor and the program only through their environment.

Creates and deletes of one name are serialised by a lock file in ``connectors/.locks/`` (kept
outside the connector's directory, which delete removes; ``name_lock`` removes it safely once the
connector is gone, so lock files of deleted or never-created names do not pile up).

A name is checked as a DNS-1123 label before it becomes a path; directories this runtime creates
are private (0700), and a state directory that cannot be used is a ``ConfigError``, not an empty list.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime, ConnectorStatus
from airflow_provider_fluvio.runtimes.name_lock import name_lock
from fluvio_connectors.config import ConnectorConfig
from fluvio_connectors.errors import BackendError, ConnectorExistsError, ConnectorNotFoundError
from fluvio_connectors.names import check_connector_name, is_connector_name
from fluvio_connectors.resume import START_OFFSET_ENV
from fluvio_connectors.settings import Settings
from fluvio_connectors.state_dir import existing_dir, private_dir
from fluvio_connectors.status import HEARTBEAT_SECONDS, HUNG_PREFIX, STALE_AFTER_SECONDS, ProgramState

# The environment a connector inherits from its creator: what a Python program needs to run and the
# program's own knobs (FLUVIO_CONNECTOR_LOG_LEVEL, ...), nothing else: an Airflow worker's
# environment can hold other connections' credentials. Where topics live comes from the settings
# only (Settings.to_env), never from a stray FLUVIO_ENDPOINT of the creator.
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONPATH",
              "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")
PASSED_PREFIXES = ("LC_", "FLUVIO_CONNECTOR_")
HEARTBEAT_ENV = "FLUVIO_CONNECTOR_HEARTBEAT"  # fluvio_connectors.runner's knob
HANDSHAKE_SECONDS = 15.0
LOCK_SECONDS = 60.0
POLL_SECONDS = 0.05
# A directory with a config but no supervisor record yet is being created; after this long the
# creator died half-way and the connector is Failed.
CREATING_GRACE_SECONDS = 30.0


class LocalRuntime(ConnectorRuntime):
    """Connectors as supervised local processes.

    :param settings: where the state lives and which topics backend the programs use.
    :param python: interpreter for the supervisor and the programs (default: this one).
    :param backoff_initial: seconds before the first restart after a crash (doubles each time).
    :param backoff_max: cap of the restart delay.
    :param max_crashes: crashes within ``crash_window`` seconds that make the connector Failed.
    :param crash_window: see ``max_crashes``.
    :param stable_after: seconds of readiness after which earlier crashes are forgotten.
    :param stop_timeout: seconds a program gets to stop on delete before it is killed.
    :param liveness_timeout: seconds without a heartbeat from the program (stopped, hung) after
        which its supervisor restarts it.
    """

    kind = "local"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        python: str | None = None,
        backoff_initial: float = sv.RestartPolicy.backoff_initial,
        backoff_max: float = sv.RestartPolicy.backoff_max,
        max_crashes: int = sv.RestartPolicy.max_crashes,
        crash_window: float = sv.RestartPolicy.crash_window,
        stable_after: float = sv.RestartPolicy.stable_after,
        stop_timeout: float = sv.RestartPolicy.stop_timeout,
        liveness_timeout: float = sv.RestartPolicy.liveness_timeout,
    ) -> None:
        super().__init__(settings)
        self.python = python or sys.executable
        self.policy = sv.RestartPolicy(
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            max_crashes=max_crashes,
            crash_window=crash_window,
            stable_after=stable_after,
            stop_timeout=stop_timeout,
            liveness_timeout=liveness_timeout,
        )
        # Resolved: the supervisor's command line names this path, and is recognised by it.
        self.root = self.settings.connectors_dir.expanduser().resolve()

    # ---- paths and locks

    def _dir(self, name: str) -> Path:
        check_connector_name(name)  # a name from the command line becomes a path: no ../
        self._root_exists()
        return self.root / name

    def _root_exists(self) -> bool:
        """False before the first connector; ConfigError when a file is in the way."""
        return existing_dir(self.settings.home.expanduser()) and existing_dir(self.root)

    def _name_lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        check_connector_name(name)
        private_dir(self.root)
        return name_lock(self.root / ".locks", name, LOCK_SECONDS, keep=lambda: (self.root / name).exists())

    # ---- create

    def _check_absent(self, name: str) -> None:
        if self._dir(name).exists():
            raise ConnectorExistsError(name)

    def _start(self, config: ConnectorConfig, start_offset: int) -> ConnectorInfo:
        final = self._dir(config.name)
        private_dir(self.root)
        # Build the directory aside and rename it into place: others never see half of it.
        staging = Path(tempfile.mkdtemp(prefix=f".{config.name}-", dir=self.root))
        try:
            (staging / sv.CONFIG_FILE).write_text(config.to_yaml())
            (staging / sv.LOG_FILE).touch()
            staging.rename(final)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise BackendError(f"cannot create the state of connector {config.name} in {self.root}: "
                               f"{exc.strerror or exc}") from None
        try:
            self._spawn(final, config, start_offset)
        except BaseException:
            self._stop_processes(final)
            self._remove(final)
            raise
        return self._info(config.name)

    def _environment(self, config: ConnectorConfig, start_offset: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in PASSED_ENV or k.startswith(PASSED_PREFIXES)}
        env.update(self.settings.to_env())
        env.update(config.secret_values())
        env[START_OFFSET_ENV] = str(start_offset)
        # The supervisor restarts a program silent for liveness_timeout: it must heartbeat well
        # within that (the program's default is every 5 s).
        beat = _positive(env.get(HEARTBEAT_ENV)) or HEARTBEAT_SECONDS
        env[HEARTBEAT_ENV] = f"{min(beat, self.policy.liveness_timeout / 4):g}"
        env["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file as they are written
        # pydantic looks for plugins in every installed distribution's entry points at import: in
        # an Airflow environment that is a fifth of a second of each connector start, for plugins
        # the connectors do not use.
        env["PYDANTIC_DISABLE_PLUGINS"] = os.environ.get("PYDANTIC_DISABLE_PLUGINS", "__all__")
        return env

    def _spawn(self, state_dir: Path, config: ConnectorConfig, start_offset: int) -> int:
        # -I -S: the supervisor needs only the standard library; skipping site-packages (and their
        # .pth files) saves a good part of its start-up.
        argv = [self.python, "-I", "-S", sv.__file__, str(state_dir),
                "--module", config.connector_type.module, "--python", self.python, *self.policy.to_args()]
        with (state_dir / sv.LOG_FILE).open("ab") as log:
            try:
                proc = subprocess.Popen(
                    argv,
                    env=self._environment(config, start_offset),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    cwd=state_dir,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BackendError(f"cannot start the supervisor of connector {config.name}: "
                                   f"{exc.strerror or exc}") from None
        assert proc.stdout is not None
        try:
            line = _read_line(proc.stdout.fileno(), HANDSHAKE_SECONDS)
        finally:
            proc.stdout.close()
            try:
                proc.wait(timeout=HANDSHAKE_SECONDS)  # the intermediate parent exits at once
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not line.strip().isdigit():
            detail = sv.last_line(state_dir / sv.LOG_FILE, 0) or "no output"
            raise BackendError(f"the supervisor of connector {config.name} did not start: {detail}")
        return int(line)

    # ---- delete

    def delete(self, name: str) -> None:
        with self._name_lock(name):
            state_dir = self._dir(name)
            if not (state_dir / sv.CONFIG_FILE).exists():
                raise ConnectorNotFoundError(name)
            self._stop_processes(state_dir)
            self._remove(state_dir)

    def _remove(self, state_dir: Path) -> None:
        """Rename aside, then delete: the connector disappears at once, and a removal cut short
        leaves a hidden directory that neither list nor a new create of the name trips over."""
        doomed = Path(tempfile.mkdtemp(prefix=f".deleted-{state_dir.name}-", dir=self.root))
        try:
            state_dir.rename(doomed / state_dir.name)
        except OSError as exc:
            doomed.rmdir()
            raise BackendError(f"cannot remove {state_dir}: {exc.strerror or exc}") from None
        shutil.rmtree(doomed, ignore_errors=True)

    def _stop_processes(self, state_dir: Path) -> None:
        """SIGTERM to the supervisor (it stops the program), then SIGKILL to the whole group."""
        state = sv.read_state(state_dir)
        if state is None:
            return
        group = state.pid  # the supervisor leads its own process group
        if _alive(state.pid, state_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGTERM)  # it stops the program, then itself
                os.kill(state.pid, signal.SIGCONT)  # a stopped supervisor handles it too
        elif _group_members(group):
            # The supervisor is gone but its program lives on: stop it gracefully ourselves.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
                os.killpg(group, signal.SIGCONT)
        deadline = time.monotonic() + self.policy.stop_timeout + 2.0
        while _group_members(group) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        if _group_members(group):
            # Members are alive, so the group id is still theirs (ids are not reused while in use).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            while _group_members(group) and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            left = _group_members(group)
            if left:
                raise BackendError(f"processes {', '.join(map(str, left))} of connector "
                                   f"{state_dir.name} survived SIGKILL")

    # ---- status

    def list(self) -> builtins.list[ConnectorInfo]:
        if not self._root_exists():
            return []
        infos = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir() or not is_connector_name(entry.name):
                continue  # hidden (staging, deleted) or not ours
            with contextlib.suppress(ConnectorNotFoundError):  # deleted while we looked
                infos.append(self._info(entry.name))
        return infos

    def status(self, name: str) -> ConnectorInfo:
        return self._info(name)

    def _info(self, name: str) -> ConnectorInfo:
        state_dir = self._dir(name)
        document = _read_document(state_dir / sv.CONFIG_FILE)
        if document is None:
            raise ConnectorNotFoundError(name)
        state = sv.read_state(state_dir)
        program = sv.read_program_status(state_dir)
        if state is not None and program is not None and program.get("pid") != state.program_pid:
            program = None  # left over from an earlier run
        status, reason, pending_since = self._status(state_dir, state, program)
        started = (state.program_started_at or state.started_at) if state else None
        counters = (program or {}).get("counters") or {}
        known = program is not None and "records" in program and program.get("records_known", True)
        return ConnectorInfo(
            name=name,
            type=str(document.get("type", "")),
            topic=str(document.get("topic", "")),
            status=status,
            runtime=self.kind,
            version=str(document.get("version", "latest")),
            reason=reason,
            started_at=datetime.fromtimestamp(started, UTC) if started else None,
            restarts=state.restarts if state else 0,
            records=int(program["records"]) if program and known else None,
            counters={str(k): int(v) for k, v in counters.items()},
            pending_since=(datetime.fromtimestamp(pending_since, UTC)
                           if status == ConnectorStatus.PENDING and pending_since else None),
        )

    def _status(
        self, state_dir: Path, state: sv.SupervisorState | None, program: dict[str, Any] | None
    ) -> tuple[ConnectorStatus, str | None, float | None]:
        """The status, its reason, and since when it has been Pending (when it is)."""
        if state is None:
            created = (state_dir / sv.CONFIG_FILE).stat().st_mtime
            if time.time() - created < CREATING_GRACE_SECONDS:
                return ConnectorStatus.PENDING, "starting", created
            return ConnectorStatus.FAILED, "its supervisor never started; delete and create it again", None
        supervisor = _process_state(state.pid, state_dir)
        program_process = _process_state(state.program_pid, state_dir) if state.program_pid else None
        program_alive = program_process is not None
        if supervisor is None:
            if state.phase == sv.FINISHED:
                return ConnectorStatus.STOPPED, "finished", None
            if state.phase == sv.STOPPED:
                return ConnectorStatus.STOPPED, "stopped", None
            if program_alive:
                how = "stopped (SIGSTOP)" if program_process == "stopped" else "running"
                return ConnectorStatus.FAILED, (
                    f"its supervisor (pid {state.pid}) is gone; its program (pid {state.program_pid}) is still "
                    f"{how}, unsupervised; delete the connector (that stops it) and create it again"
                ), None
            return ConnectorStatus.FAILED, (
                f"its supervisor (pid {state.pid}) is gone (killed, or the machine restarted) and so is its "
                "program; delete the connector and create it again"
            ), None
        if state.crash_loop:
            return ConnectorStatus.FAILED, _failure(state), None
        pending_since = state.pending_since
        halted = ""
        if supervisor == "stopped":
            halted = (f"; its supervisor (pid {state.pid}) is stopped (SIGSTOP): nothing restarts the "
                      f"connector until it continues (kill -CONT {state.pid})")
        restarter = halted or "; its supervisor restarts it"
        if supervisor == "stopped" and not program_alive and state.phase in (sv.STARTING, sv.RUNNING):
            return ConnectorStatus.PENDING, (
                f"its program (pid {state.program_pid}) has exited and {halted[2:].split(':')[0]}: nothing "
                f"restarts it until the supervisor continues (kill -CONT {state.pid})"
            ), pending_since or time.time()
        if program and program_alive:
            program_state = program.get("state")
            updated = float(program.get("updated_at", 0.0))
            age = time.time() - updated
            if age >= STALE_AFTER_SECONDS and program_state != ProgramState.FAILED:
                said = str(program.get("last_error") or "")
                why = said if said.startswith(HUNG_PREFIX) else "stopped or hung"
                return ConnectorStatus.PENDING, (
                    f"no heartbeat from the connector for {age:.0f}s ({why}){restarter}"
                ), pending_since or updated
            if program_state == ProgramState.READY:
                return ConnectorStatus.RUNNING, halted.lstrip("; ") or None, None
            if program_state == ProgramState.FINISHED:
                return ConnectorStatus.STOPPED, "finished", None
            if program_state == ProgramState.STOPPED:  # told to stop, flushing on its way out
                return ConnectorStatus.PENDING, f"stopping{halted}", pending_since or updated
            if program_state == ProgramState.RECONNECTING:
                return ConnectorStatus.PENDING, (
                    f"reconnecting: {program.get('last_error') or 'source lost'}{halted}"
                ), pending_since or updated
        if state.phase == sv.BACKOFF and state.restarts:
            return ConnectorStatus.PENDING, (
                f"restarting after {sv.exit_and_error(state.last_exit_code, state.last_error)} "
                f"(restart {state.restarts}){halted}"
            ), pending_since or state.updated_at
        return ConnectorStatus.PENDING, f"starting{halted}", pending_since or state.program_started_at or state.started_at

    # ---- logs

    def logs(self, name: str, tail: int | None = 100) -> builtins.list[str]:
        path = self._log_path(name)
        try:
            return _tail(path, tail)
        except FileNotFoundError:
            raise ConnectorNotFoundError(name) from None

    def follow_logs(self, name: str, tail: int | None = 10) -> Iterator[str]:
        path = self._log_path(name)
        state_dir = path.parent
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise ConnectorNotFoundError(name) from None
        with handle:
            yield from _tail(path, tail)
            handle.seek(0, os.SEEK_END)
            pending = b""
            while True:
                chunk = handle.read()
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield line.decode("utf-8", errors="replace")
                    continue
                state = sv.read_state(state_dir)
                if not state_dir.exists() or state is None or not _alive(state.pid, state_dir):
                    if pending:
                        yield pending.decode("utf-8", errors="replace")
                    return
                time.sleep(0.2)

    def _log_path(self, name: str) -> Path:
        state_dir = self._dir(name)
        if not (state_dir / sv.CONFIG_FILE).exists():
            raise ConnectorNotFoundError(name)
        return state_dir / sv.LOG_FILE


def _failure(state: sv.SupervisorState) -> str:
    """Why a connector the supervisor keeps restarting is Failed."""
    if state.last_exit_code == sv.CONFIG_ERROR_EXIT:
        return f"bad config (exit code 2): {state.last_error}; fix it, then delete and create the connector again"
    times = "once" if state.restarts == 1 else f"{state.restarts} times"
    return f"crash loop: restarted {times}; last run: {sv.exit_and_error(state.last_exit_code, state.last_error)}"


def _positive(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if value > 0 else None


def _read_document(path: Path) -> dict[str, Any] | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int, state_dir: Path) -> bool:
    """``pid`` runs (not a zombie) and is this connector's supervisor or program: its command line
    names the state directory or its config file, so a reused pid is not mistaken for it."""
    return _process_state(pid, state_dir) is not None


def _process_state(pid: int, state_dir: Path) -> str | None:
    """``"running"``, ``"stopped"`` (SIGSTOP, SIGTSTP) or None (gone, a zombie, or not ours; see
    ``_alive``)."""
    import psutil

    ours = {str(state_dir), str(state_dir / sv.CONFIG_FILE)}
    try:
        proc = psutil.Process(pid)
        status = proc.status()
        if status == psutil.STATUS_ZOMBIE or not any(arg in ours for arg in proc.cmdline()):
            return None
        return "stopped" if status in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP) else "running"
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    import psutil

    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members


def _read_line(fd: int, timeout: float) -> str:
    """One line from ``fd`` within ``timeout`` seconds ('' on end-of-file or timeout)."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").split("\n", 1)[0]


def _tail(path: Path, lines: int | None) -> list[str]:
    """The last ``lines`` lines of ``path`` (all with None), reading only the end of a big file."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if lines is None:
            handle.seek(0)
            data = handle.read()
        else:
            if lines <= 0:
                return []
            block, data = 8192, b""
            position = size
            while position > 0 and data.count(b"\n") <= lines:
                step = min(block, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
                block *= 2
    text = data.decode("utf-8", errors="replace").splitlines()
    return text if lines is None else text[-lines:]
