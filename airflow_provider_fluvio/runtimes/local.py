"""The local runtime (the default): each connector is a supervised process on this machine.

Per connector a directory ``$FLUVIO_CONNECTORS_HOME/connectors/NAME/`` holds:

- ``config.yaml``      the config in the seed's format, without secret values;
- ``connector.log``    the program's stdout and stderr, appended across restarts, with the
                       supervisor's own lines (``... supervisor: ...``);
- ``supervisor.json``  the supervisor's record: pid, phase, restarts, crash loop, last error;
- ``status.json``      the program's own status file (``FLUVIO_CONNECTOR_STATUS_FILE``);
- ``create.json``      who created the connector and where its records begin (``done`` once the
                       creator saw every supervisor start): a create that was killed half-way is
                       finished by a create of the same config, which continues its records;
- ``connector.log.1``  the log's earlier lines, once it grew past ``log_max_bytes``;
- ``replica-N/``       with several replicas, replica N (from 1) has these files in its own
                       directory (a copy of the config too); replica 0 is the connector's
                       directory itself, so a connector of one replica looks as it always did.

Each replica has its own supervisor, told which replica it runs (``FLUVIO_CONNECTOR_REPLICA``) and
how many there are (``FLUVIO_CONNECTOR_REPLICAS``); ``status`` combines theirs
(``runtimes.replicas``), ``logs`` merges theirs, ``delete`` stops them all.

The supervisor (``supervisor.py``) is detached from whoever created it, so the connector outlives
the CLI command or the Airflow task; ``list``/``status``/``delete`` read the directory and work from
any process. Secrets reach the supervisor and the program only through their environment.

Creates and deletes of one name are serialised by a lock file in ``connectors/.locks/`` (kept
outside the connector's directory, which delete removes; ``name_lock`` removes it safely once the
connector is gone, so lock files of deleted or never-created names do not pile up).

A name is checked as a DNS-1123 label before it becomes a path; what this runtime creates is private
(directories 0700, files 0600), and a state directory that cannot be used is a ``ConfigError``, not
an empty list. Only processes proven to be a connector's are ever signalled (``runtimes.processes``).
Each connector is read on its own: one whose files are damaged is listed as Failed with the reason.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_provider_fluvio.runtimes import processes
from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime, ConnectorStatus, ReplicaStatus, SinkPosition
from airflow_provider_fluvio.runtimes.local_status import CREATING_GRACE_SECONDS as CREATING_GRACE_SECONDS  # re-exported
from airflow_provider_fluvio.runtimes.local_status import ReplicaSeen, replica_status
from airflow_provider_fluvio.runtimes.name_lock import name_lock
from airflow_provider_fluvio.runtimes.replicas import combine, merge_logs
from fluvio_connectors.config import ConnectorConfig
from fluvio_connectors.errors import BackendError, ConfigError, ConnectorExistsError, ConnectorNotFoundError
from fluvio_connectors.names import check_connector_name, is_connector_name
from fluvio_connectors.replicas import REPLICA_ENV, REPLICAS_ENV
from fluvio_connectors.resume import START_OFFSET_ENV
from fluvio_connectors.settings import Settings
from fluvio_connectors.state_dir import PRIVATE_DIR, existing_dir, private_dir, private_file
from fluvio_connectors.status import HEARTBEAT_SECONDS

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
REPLICA_DIR_PREFIX = "replica-"  # replica N >= 1 lives in <connector>/replica-N
CREATE_FILE = "create.json"


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
    :param log_max_bytes: size past which a connector's log is moved to ``connector.log.1``.
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
        log_max_bytes: int = sv.RestartPolicy.log_max_bytes,
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
            log_max_bytes=log_max_bytes,
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
        state_dir = self._dir(name)
        if not state_dir.exists():
            return
        if not (state_dir / sv.CONFIG_FILE).exists():
            # No connector, only what is left of one (its state removed under it, a directory made
            # by hand): whatever of it still runs is stopped, and the name is free again.
            self._stop_processes(state_dir)
            self._remove(state_dir)
            return
        if _interrupted(state_dir) is not None:
            raise ConnectorExistsError(name, hint=(
                "; a create of it was interrupted: create it again with the same config to finish "
                f"that create, or delete it (fluvio-connector delete {name})"))
        raise ConnectorExistsError(name)

    def _take_over_interrupted(self, config: ConnectorConfig, replicas: int) -> int | None:
        """A create of this very config that was killed half-way (its creator died before every
        supervisor had started): stop what it started and return where its records begin, so
        that this create finishes it and the records continue (``resume``)."""
        state_dir = self._dir(config.name)
        record = _interrupted(state_dir)
        if record is None or record.get("replicas") != replicas:
            return None
        document = _read_document(state_dir / sv.CONFIG_FILE)
        if not isinstance(document, dict) or document != config.document():
            return None
        self._stop_processes(state_dir)
        self._remove(state_dir)
        return int(record["start_offset"])

    def _start(self, config: ConnectorConfig, start_offset: int, replicas: int = 1) -> ConnectorInfo:
        final = self._dir(config.name)
        private_dir(self.root)
        # Build the directory aside and rename it into place: others never see half of it.
        staging = Path(tempfile.mkdtemp(prefix=f".{config.name}-", dir=self.root))
        creation = {"creator_pid": os.getpid(), "creator_started": _own_start(), "start_offset": start_offset,
                    "replicas": replicas, "done": False}
        try:
            for index in range(replicas):
                where = replica_dir(staging, index)
                where.mkdir(mode=PRIVATE_DIR, exist_ok=True)
                # Private like the rest of the state directory (0600): the config names the
                # connector's secrets, the log says what it connects to.
                private_file(where / sv.CONFIG_FILE).write_text(config.to_yaml())
                private_file(where / sv.LOG_FILE)
            sv.write_json_atomic(staging / CREATE_FILE, creation)
            staging.rename(final)
        except (ConfigError, BackendError):  # a file private_file could not make
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise BackendError(f"cannot create the state of connector {config.name} in {self.root}: "
                               f"{exc.strerror or exc}") from None
        try:
            for index in range(replicas):
                which = {REPLICAS_ENV: str(replicas), REPLICA_ENV: str(index)} if replicas > 1 else {}
                self._spawn(replica_dir(final, index), config, start_offset, which)
        except BaseException:
            self._stop_processes(final)
            self._remove(final)
            raise
        with contextlib.suppress(OSError):  # unwritten, a later create of the same config redoes it
            sv.write_json_atomic(final / CREATE_FILE, {**creation, "done": True})
        return self.status(config.name)

    def _environment(self, config: ConnectorConfig, start_offset: int, replica: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in PASSED_ENV or k.startswith(PASSED_PREFIXES)}
        for name in (REPLICAS_ENV, REPLICA_ENV):  # this connector's, never the creator's
            env.pop(name, None)
        env.update(self.settings.to_env())
        env.update(config.secret_values())
        env.update(replica)
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

    def _spawn(self, state_dir: Path, config: ConnectorConfig, start_offset: int, replica: dict[str, str]) -> int:
        # -I -S: the supervisor needs only the standard library; skipping site-packages (and their
        # .pth files) saves a good part of its start-up.
        argv = [self.python, "-I", "-S", sv.__file__, str(state_dir),
                "--module", config.connector_type.module, "--python", self.python, *self.policy.to_args()]
        # The mark by which delete knows the supervisor and its program (runtimes.processes).
        env = {**self._environment(config, start_offset, replica), processes.MARKER_ENV: str(state_dir)}
        with (state_dir / sv.LOG_FILE).open("ab") as log:
            try:
                proc = subprocess.Popen(
                    argv,
                    env=env,
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
                if state_dir.is_dir():  # the remains of a connector: cleaned up, but it was none
                    self._stop_processes(state_dir)
                    self._remove(state_dir)
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
        """SIGTERM to each replica's supervisor (it stops its program), or to what runs without one,
        then SIGKILL to whatever of them is still there. All are asked first, so replicas stop
        side by side. Only processes proven to be the connector's are signalled."""
        asked = [proc for where in replica_dirs(state_dir) for proc in self._ask_to_stop(where)]
        deadline = time.monotonic() + self.policy.stop_timeout + 2.0
        while processes.alive(asked) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        left_over = processes.alive(asked)
        processes.send(left_over, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while processes.alive(left_over) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        left = processes.alive(left_over)
        if left:
            raise BackendError(f"processes {', '.join(str(p.pid) for p in left)} of connector "
                               f"{state_dir.name} survived SIGKILL")

    def _ask_to_stop(self, state_dir: Path) -> builtins.list[processes.Process]:
        """Ask one replica to stop: its supervisor, which stops its program, or else (the supervisor
        is gone, or its record is) every process proven to be the replica's. Returns them."""
        state = sv.read_state(state_dir)
        supervisor = processes.proven(state.pid, state_dir, state.started_at) if state else None
        program = processes.proven(state.program_pid, state_dir, state.program_started_at) if state else None
        found = {proc.pid: proc for proc in (supervisor, program) if proc is not None}
        for proc in processes.marked(state_dir, not_before=_created_at(state_dir)):
            found.setdefault(proc.pid, proc)
        if supervisor is not None:
            processes.send([supervisor], signal.SIGTERM, signal.SIGCONT)  # it stops the program, then itself
        else:
            processes.send(found.values(), signal.SIGTERM, signal.SIGCONT)
        return list(found.values())

    # ---- status

    def list(self) -> builtins.list[ConnectorInfo]:
        if not self._root_exists():
            return []
        infos, sinks = [], {}
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir() or not is_connector_name(entry.name):
                continue  # hidden (staging, deleted) or not ours
            with contextlib.suppress(ConnectorNotFoundError):  # deleted while we looked
                info, sink = self._info_or_failed(entry.name)
                infos.append(info)
                if sink is not None:
                    sinks[info.name] = sink
        return self.with_lag(infos, sinks)

    def _info_or_failed(self, name: str) -> tuple[ConnectorInfo, SinkPosition | None]:
        """``_info``, or a Failed entry with the reason when the connector's state cannot be read:
        one damaged connector never hides the others."""
        try:
            return self._info(name)
        except (ConnectorNotFoundError, ConfigError):
            raise
        except Exception as exc:
            return ConnectorInfo(name=name, type="", topic="", status=ConnectorStatus.FAILED, runtime=self.kind,
                                 reason=f"its state cannot be read ({type(exc).__name__}: {exc}); delete it "
                                        "and create it again"), None

    def status(self, name: str) -> ConnectorInfo:
        info, sink = self._info_or_failed(name)
        return self.with_lag([info], {name: sink})[0] if sink is not None else info

    def config(self, name: str) -> dict[str, Any]:
        document = _read_document(self._dir(name) / sv.CONFIG_FILE)
        if document is None:
            raise ConnectorNotFoundError(name)
        if isinstance(document, str):
            raise BackendError(f"connector {name}: its {sv.CONFIG_FILE} {document}")
        return document

    def _info(self, name: str) -> tuple[ConnectorInfo, SinkPosition | None]:
        """The connector's info, and where its position is kept when it is a sink."""
        state_dir = self._dir(name)
        document = _read_document(state_dir / sv.CONFIG_FILE)
        if document is None:
            raise ConnectorNotFoundError(name)
        if isinstance(document, str):  # there, but not a config any more
            return ConnectorInfo(name=name, type="", topic="", status=ConnectorStatus.FAILED, runtime=self.kind,
                                 reason=f"its {sv.CONFIG_FILE} {document}; delete it and create it again"), None
        views = [self._replica(where, str(index)) for index, where in enumerate(replica_dirs(state_dir))]
        statuses = [view.status for view in views]
        status, reason, pending_since = combine(statuses)
        starts = [view.started for view in views if view.started]
        counters: dict[str, int] = {}
        for view in views:
            for key, value in view.counters.items():
                counters[key] = counters.get(key, 0) + value
        direction = "sink" if document.get("direction") == "sink" else "source"
        info = ConnectorInfo(
            name=name,
            type=str(document.get("type", "")),
            topic=str(document.get("topic", "")),
            status=status,
            runtime=self.kind,
            version=str(document.get("version", "latest")),
            reason=reason,
            started_at=datetime.fromtimestamp(min(starts), UTC) if starts else None,
            restarts=sum(s.restarts for s in statuses),
            # Several replicas' records cannot be told apart in their topic (fluvio_connectors.replicas).
            records=views[0].records if len(views) == 1 else None,
            records_target=_records_target(document),
            counters=counters,
            pending_since=pending_since if status == ConnectorStatus.PENDING else None,
            replicas=len(views),
            replicas_running=sum(s.status == ConnectorStatus.RUNNING for s in statuses),
            replica_statuses=tuple(statuses) if len(views) > 1 else (),
            direction=direction,
            last_error=views[0].last_error,
        )
        return info, (SinkPosition.of(name, document) if direction == "sink" else None)

    def _replica(self, state_dir: Path, label: str) -> _ReplicaView:
        """One replica: its status and its program's figures."""
        try:
            state = sv.load_state(state_dir)
        except ValueError as exc:  # hand-edited or damaged: Failed, saying what is wrong
            return _ReplicaView(
                status=ReplicaStatus(name=label, status=ConnectorStatus.FAILED,
                                     reason=f"{exc}; delete the connector and create it again"),
                started=None, records=None, counters={})
        program = sv.read_program_status(state_dir)
        if state is not None and program is not None and program.get("pid") != state.program_pid:
            program = None  # left over from an earlier run
        status, reason, pending_since = self._status(state_dir, state, program)
        counters = (program or {}).get("counters") or {}
        known = program is not None and "records" in program and program.get("records_known", True)
        return _ReplicaView(
            status=ReplicaStatus(
                name=label, status=status, reason=reason, restarts=state.restarts if state else 0,
                pending_since=(datetime.fromtimestamp(pending_since, UTC)
                               if status == ConnectorStatus.PENDING and pending_since else None),
            ),
            started=(state.program_started_at or state.started_at) if state else None,
            records=int(program["records"]) if program and known else None,
            counters={str(k): int(v) for k, v in counters.items()},
            last_error=str(program["last_error"]) if program and program.get("last_error") else None,
        )

    def _status(
        self, state_dir: Path, state: sv.SupervisorState | None, program: dict[str, Any] | None
    ) -> tuple[ConnectorStatus, str | None, float | None]:
        """The status, its reason, and since when it has been Pending (``local_status.py``)."""
        if state is None:
            seen = ReplicaSeen(None, program, None, None, (state_dir / sv.CONFIG_FILE).stat().st_mtime, time.time(),
                               interrupted=_interrupted(state_dir) is not None)
        else:
            program_process = (_process_state(state.program_pid, state_dir, state.program_started_at)
                               if state.program_pid else None)
            supervisor = _process_state(state.pid, state_dir, state.started_at)
            full = supervisor is not None and sv.disk_full(state_dir)
            seen = ReplicaSeen(state, program, supervisor, program_process, None, time.time(),
                               disk_full=str(self.settings.home) if full else None)
        return replica_status(seen)

    # ---- logs

    def logs(self, name: str, tail: int | None = 100, replica: str | None = None) -> builtins.list[str]:
        paths = self._log_paths(name, replica)
        try:
            if len(paths) == 1:
                return _log_tail(paths[0][1], tail)
            return merge_logs(((label, _log_tail(path, tail)) for label, path in paths), tail)
        except FileNotFoundError:
            raise ConnectorNotFoundError(name) from None

    def follow_logs(self, name: str, tail: int | None = 10, replica: str | None = None) -> Iterator[str]:
        paths = self._log_paths(name, replica)
        prefix = len(paths) > 1
        try:
            handles = [(label, path, path.open("rb")) for label, path in paths]
        except FileNotFoundError:
            raise ConnectorNotFoundError(name) from None
        try:
            yield from self.logs(name, tail, replica)
            pending = {label: b"" for label, _, _ in handles}
            for _, _, handle in handles:
                handle.seek(0, os.SEEK_END)
            while True:
                read_any = False
                for label, path, handle in handles:
                    chunk = handle.read()
                    if not chunk:
                        with contextlib.suppress(OSError):
                            if path.stat().st_size < handle.tell():  # rotated: emptied under us
                                handle.seek(0)
                        continue
                    read_any = True
                    *lines, pending[label] = (pending[label] + chunk).split(b"\n")
                    for line in lines:
                        text = line.decode("utf-8", errors="replace")
                        yield f"[replica {label}] {text}" if prefix else text
                if read_any:
                    continue
                if not any(_running(path.parent) for _, path, _ in handles):
                    for label, rest in pending.items():
                        if rest:
                            text = rest.decode("utf-8", errors="replace")
                            yield f"[replica {label}] {text}" if prefix else text
                    return
                time.sleep(0.2)
        finally:
            for _, _, handle in handles:
                handle.close()

    def _log_paths(self, name: str, replica: str | None) -> builtins.list[tuple[str, Path]]:
        """``(replica, log file)`` of every replica, or of the one named."""
        state_dir = self._dir(name)
        if not (state_dir / sv.CONFIG_FILE).exists():
            raise ConnectorNotFoundError(name)
        paths = [(str(index), where / sv.LOG_FILE) for index, where in enumerate(replica_dirs(state_dir))]
        if replica is None:
            return paths
        chosen = [(label, path) for label, path in paths if label == str(replica).strip()]
        if not chosen:
            raise ConfigError(f"connector {name} has replicas 0 to {len(paths) - 1}, not {replica!r}")
        return chosen


def _records_target(document: dict[str, Any]) -> int | None:
    """A test-connector's ``count`` from its stored config (the seed's format), else None."""
    count = (document.get("parameters") or {}).get("count") if document.get("type") == "test-connector" else None
    if isinstance(count, str) and count.strip().isdigit():  # kept as written: the config was validated
        return int(count)
    return count if isinstance(count, int) and not isinstance(count, bool) else None


@dataclass(frozen=True)
class _ReplicaView:
    status: ReplicaStatus
    started: float | None
    records: int | None
    counters: dict[str, int]
    last_error: str | None = None


def replica_dir(state_dir: Path, index: int) -> Path:
    """Where replica ``index`` of the connector in ``state_dir`` keeps its files."""
    return state_dir if index == 0 else state_dir / f"{REPLICA_DIR_PREFIX}{index}"


def replica_dirs(state_dir: Path) -> builtins.list[Path]:
    """The directories of every replica of the connector in ``state_dir``, in order."""
    extra = []
    for entry in state_dir.glob(f"{REPLICA_DIR_PREFIX}*"):
        index = entry.name[len(REPLICA_DIR_PREFIX):]
        if index.isdigit() and entry.is_dir():
            extra.append((int(index), entry))
    return [state_dir, *(where for _, where in sorted(extra))]


def _running(state_dir: Path) -> bool:
    """Whether the supervisor of the replica in ``state_dir`` still runs (its log may grow)."""
    if not state_dir.exists():
        return False
    state = sv.read_state(state_dir)
    return state is not None and _process_state(state.pid, state_dir, state.started_at) is not None


def _interrupted(state_dir: Path) -> dict[str, Any] | None:
    """The ``create.json`` of a create that never finished and whose creator is gone, else None."""
    try:
        record = json.loads((state_dir / CREATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("done") is not False:
        return None
    offset, replicas = record.get("start_offset"), record.get("replicas")
    if not (isinstance(offset, int) and offset >= 0 and isinstance(replicas, int) and replicas >= 1):
        return None
    creator, started = record.get("creator_pid"), record.get("creator_started")
    if processes.valid_pid(creator) and isinstance(started, int | float):
        import psutil

        try:
            if abs(psutil.Process(creator).create_time() - started) <= processes.START_PRECISION:
                return None  # the creator is alive: still creating (or failing, and cleaning up)
        except psutil.Error:
            pass
    return record


def _own_start() -> float:
    import psutil

    return float(psutil.Process().create_time())


def _created_at(state_dir: Path) -> float | None:
    """When the connector of ``state_dir`` was created (its config written), if that can be told."""
    try:
        return (state_dir / sv.CONFIG_FILE).stat().st_mtime
    except OSError:
        return None


def _positive(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if value > 0 else None


def _read_document(path: Path) -> dict[str, Any] | str | None:
    """The stored config (written once by create), parsed once per version of the file: ``list``
    reads every connector's on each call (the Connectors page: every few seconds). None when there
    is none, a few words when it cannot be read as one."""
    import yaml

    try:
        stat = path.stat()
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = _DOCUMENTS.get(path)
        if cached is not None and cached[0] == version:
            return dict(cached[1])
        data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})"
    except yaml.YAMLError:
        return "is not valid YAML"
    if not isinstance(data, dict) or not isinstance(data.get("type"), str) or not isinstance(data.get("topic"), str):
        return "is not a connector config (no type and topic)"
    if len(_DOCUMENTS) >= _DOCUMENTS_KEPT:
        _DOCUMENTS.clear()
    _DOCUMENTS[path] = (version, data)
    return dict(data)


# path -> (inode, mtime, size) of the version parsed, and what it holds
_DOCUMENTS: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}
_DOCUMENTS_KEPT = 4096


def _process_state(pid: int | None, state_dir: Path, started: float | None) -> str | None:
    """``"running"``, ``"stopped"`` (SIGSTOP, SIGTSTP) or None (gone, a zombie, or not proven to be
    this replica's: ``runtimes.processes``)."""
    proc = processes.proven(pid, state_dir, started)
    return None if proc is None else processes.running_state(proc)


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


def _log_tail(path: Path, lines: int | None) -> list[str]:
    """The last ``lines`` lines of a connector's log, reaching into its rotated part when the
    log itself holds fewer (``FileNotFoundError`` when the log is missing)."""
    text = _tail(path, lines)
    if lines is not None and len(text) >= lines:
        return text
    try:
        older = _tail(path.with_name(path.name + ".1"), None if lines is None else lines - len(text))
    except FileNotFoundError:
        return text
    return older + text


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
