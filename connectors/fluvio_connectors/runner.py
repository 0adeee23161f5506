"""The lifecycle every connector program shares.

``python -m fluvio_connectors.<program> --config FILE [--secrets FILE]``:

1. load and validate the config; secrets come from the ``NAME=VALUE`` secrets file when one is
   given, else from the environment;
2. open the topics backend the environment names and apply the seed's topic rule
   (``create_topic: true`` creates a missing topic; otherwise a missing topic is an error);
3. count what this connector already stored in its topic since it was created (``resume``): a
   restarted program continues its work from there, and its status counts what the topic holds;
4. run the program's body, which reports readiness once its source is connected too;
5. on SIGTERM or SIGINT let the body finish its batch, flush, and exit 0 within a few seconds
   (also as PID 1 in a container: the handlers are installed explicitly).

Throughout it keeps the status file (``FLUVIO_CONNECTOR_STATUS_FILE``) current: the state, the
counters and the last error, rewritten on every change and at least every heartbeat, and it logs a
proof-of-life line at a fixed interval. Logs go to stderr, one line each, never a secret value:
once the config is loaded, every log line and the status file's last error pass through a
``Redactor`` holding the config's secret values (whatever a library or a message happens to say).

Liveness. The heartbeat rewrites the status file only while the program makes progress: its body
shows progress by waiting through ``ctx.wait``, by reporting records or by calling ``ctx.beat`` in
its loop. A body that shows none for ``FLUVIO_CONNECTOR_HANG_AFTER`` seconds (a deadlock, a call
that never returns) is logged as hung and its heartbeat stops, so the status file goes stale and
whoever watches it (the local supervisor, a Kubernetes liveness probe) restarts the program. A
stopped program (SIGSTOP) writes nothing at all, with the same effect.

Threads. A program thread that dies of an exception (the MQTT network thread, the heartbeat, ...)
is fatal: the program logs it with its traceback, records it as the last error, stops and exits 1,
so that its supervisor sees a crash and restarts it, rather than a program that lives on without
the thread that did its work.

Supervisor. With ``FLUVIO_CONNECTOR_SUPERVISOR_PID`` set (the local supervisor sets it, and also
asks the kernel for SIGTERM when it dies), the program stops as soon as that process is no longer
its parent: a connector never runs on unsupervised, unseen by ``status`` and ``delete``.

Exit codes: 0 finished or stopped by a signal; 1 an operation failed (topic missing, backend or
source refused, a thread died); 2 bad usage or bad config. Expected errors are one line without a
traceback.

Environment knobs (mostly for tests and orchestrators):
``FLUVIO_CONNECTOR_HEARTBEAT``      seconds between status file rewrites (default 5, at most 10);
``FLUVIO_CONNECTOR_LIFE_INTERVAL``  seconds between proof-of-life log lines (default 30);
``FLUVIO_CONNECTOR_HANG_AFTER``     seconds without progress after which the program is hung and
                                    stops heartbeating (default 30);
``FLUVIO_CONNECTOR_STOP_GRACE``     seconds a stop may take before the program gives up flushing
                                    and exits 1 (default 8: inside the 10 s supervisors usually allow);
``FLUVIO_CONNECTOR_LOG_LEVEL``     DEBUG, INFO (default), WARNING or ERROR;
``FLUVIO_CONNECTOR_START_OFFSET``   where the connector's records begin in its topic (``resume``);
``FLUVIO_CONNECTOR_REPLICAS``, ``FLUVIO_CONNECTOR_REPLICA``  how many programs split the source and
                                    which one this is (``replicas``; only types that scale out
                                    take more than one). With several, the records of earlier runs
                                    are not counted: several writers' records cannot be told apart.
``FLUVIO_CONNECTOR_SUPERVISOR_PID`` the supervising parent process (see Supervisor above);
``FLUVIO_CONNECTOR_STAY_AFTER_FINISH``  ``1``: after finishing (a finite ``count``) stay alive, idle
                                    and reporting ``finished``, until stopped; for orchestrators
                                    that restart exited containers (a Kubernetes Deployment), so a
                                    finished connector is not run again.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import NoReturn

from fluvio_connectors.catalog import ConnectorType
from fluvio_connectors.config import ConnectorConfig, config_summary, load_config, read_secrets_file
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.flags import is_true
from fluvio_connectors.messages import Redactor
from fluvio_connectors.replicas import REPLICAS_ENV
from fluvio_connectors.replicas import from_env as replica_settings
from fluvio_connectors.resume import OwnRecords, count_own, start_offset
from fluvio_connectors.status import (
    HEARTBEAT_SECONDS,
    HUNG_PREFIX,
    STALE_AFTER_SECONDS,
    ProgramState,
    ProgramStatus,
    status_path,
    write_status,
)
from fluvio_connectors.topics import Producer, Topics, apply_topic_rule, open_topics

HEARTBEAT_ENV = "FLUVIO_CONNECTOR_HEARTBEAT"
LIFE_INTERVAL_ENV = "FLUVIO_CONNECTOR_LIFE_INTERVAL"
HANG_AFTER_ENV = "FLUVIO_CONNECTOR_HANG_AFTER"
STOP_GRACE_ENV = "FLUVIO_CONNECTOR_STOP_GRACE"
STAY_AFTER_FINISH_ENV = "FLUVIO_CONNECTOR_STAY_AFTER_FINISH"
LOG_LEVEL_ENV = "FLUVIO_CONNECTOR_LOG_LEVEL"
SUPERVISOR_PID_ENV = "FLUVIO_CONNECTOR_SUPERVISOR_PID"

DEFAULT_LIFE_INTERVAL = 30.0
DEFAULT_STOP_GRACE = 8.0
DEFAULT_HANG_AFTER = STALE_AFTER_SECONDS
# A heartbeat must stay well inside status.STALE_AFTER_SECONDS or the probe reports a live
# connector as hung.
MAX_HEARTBEAT = 10.0
WAIT_SLICE = 1.0  # ctx.wait shows progress at least this often
WRITE_SOON_SECONDS = 0.5

log = logging.getLogger("fluvio_connectors")
# The loaded config's secret values: removed from every log line and status error of this process.
_REDACT = Redactor()


class ConnectorContext:
    """What a program body works with: its config, its producer, its status and the stop signal.

    ``resumed`` is how many of this connector's records its topic already held when this run
    started (``resume``), known before the body runs when the program counts them first.
    ``replicas`` is how many programs split the source, ``replica`` this one's index when the
    runtime gave one (``fluvio_connectors.replicas``). ``topics`` is the backend (a sink reads from
    it; a sink's ``producer`` refuses records).

    Thread-safe: a body may report from several threads (an MQTT network thread and its writer).
    """

    def __init__(
        self,
        config: ConnectorConfig,
        producer: Producer,
        status: _StatusKeeper,
        stopping: threading.Event,
        resumed: int = 0,
        replicas: int = 1,
        replica: int | None = None,
        topics: Topics | None = None,
    ) -> None:
        self.config = config
        self.producer = producer
        self._topics = topics
        self.stopping = stopping
        self.resumed = resumed
        self.replicas = replicas
        self.replica = replica
        self._status = status

    @property
    def records(self) -> int:
        """Records of this connector in its topic so far (those of earlier runs included, once
        they are counted)."""
        return self._status.snapshot().records

    def ready(self) -> None:
        """Source and topic are both connected: the connector is producing."""
        self._status.set_state(ProgramState.READY)

    def reconnecting(self, reason: str) -> None:
        """The source is lost and being retried; ``reason`` becomes the last error."""
        self._status.set_state(ProgramState.RECONNECTING, error=reason)

    def error(self, message: str) -> None:
        """Record ``message`` (never a secret) as the last error, without changing the state."""
        self._status.update(error=message)

    def produced(self, count: int, counters: Mapping[str, int] | None = None) -> None:
        """``count`` more records are stored (flushed); ``counters`` are added in the same step."""
        self._status.beat()
        self._status.update(records=count, counters=counters)

    def count(self, counter: str, amount: int = 1) -> None:
        """Add ``amount`` to a named counter shown in the status and the proof-of-life line."""
        self._status.update(counters={counter: amount})

    def counter(self, counter: str) -> int:
        return self._status.snapshot().counters.get(counter, 0)

    @property
    def topics(self) -> Topics:
        if self._topics is None:
            raise FluvioConnectorError("this context has no topics backend")
        return self._topics

    # ---- sinks

    def delivered_before(self, count: int) -> None:
        """The records this sink delivered in earlier runs (known once it read its position)."""
        self._status.records_counted(count)

    def delivered(self, count: int, position: int, counters: Mapping[str, int] | None = None) -> None:
        """``count`` more records are delivered; the sink reads ``position`` next."""
        self._status.beat()
        self._status.update(records=count, counters=counters, position=position)
        self._status.write_soon()

    def lag(self, lag: int | None) -> None:
        """Records in the topic after the sink's position, as the sink last saw it."""
        self._status.update(lag=lag)

    def halted(self, reason: str) -> None:
        """The sink cannot go on without a change (``reason`` says which): Failed, still alive."""
        self._status.set_state(ProgramState.HALTED, error=reason)

    def beat(self) -> None:
        """The body is making progress. A loop that neither waits through ``wait`` nor reports
        records calls this on every turn: a body silent for ``FLUVIO_CONNECTOR_HANG_AFTER``
        seconds is hung (see the module docstring)."""
        self._status.beat()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when a stop is requested; True if stopping."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            self._status.beat()
            left = deadline - time.monotonic()
            if left <= 0:
                return self.stopping.is_set()
            if self.stopping.wait(min(left, WAIT_SLICE)):
                return True


Body = Callable[[ConnectorContext], None]


@dataclass(frozen=True)
class Program:
    """A connector program: the connector type it runs and its body.

    The body returns when it has finished on its own or when ``ctx.stopping`` is set; the runner
    then flushes the producer. It raises ``FluvioConnectorError`` for expected fatal errors.

    ``own_records`` counts this connector's records among the records of its topic (``resume``);
    with ``resume_first`` they are counted before the body runs (``ctx.resumed``: the test connector
    continues its sequence), else in the background while it runs (only the status needs them).
    """

    connector_type: ConnectorType
    body: Body
    # Records the producer stores per transaction at most (the body may flush sooner).
    batch_size: int = 500
    own_records: OwnRecords | None = None
    resume_first: bool = True


class _ThreadDied(FluvioConnectorError):
    """A program thread died of an exception."""


# --------------------------------------------------------------------------- entry point


def main(program: Program, argv: Sequence[str] | None = None) -> NoReturn:
    """Run ``program`` as a process: parse ``argv`` (default ``sys.argv[1:]``) and exit."""
    sys.exit(run(program, argv))


def run(program: Program, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run ``program`` to the end and return the exit code."""
    env = os.environ if env is None else env
    args = _parse_args(program, argv)
    _configure_logging(program.connector_type.name)
    keeper = _StatusKeeper(status_path(dict(env)))
    stopping = threading.Event()
    grace = _env_seconds(env, STOP_GRACE_ENV, DEFAULT_STOP_GRACE)
    supervisor = _supervisor_pid(env)
    signals = _SignalHandler(stopping, grace, supervisor)
    signals.install()
    deaths = _ThreadDeaths(keeper, stopping, grace)
    deaths.install()
    heartbeat = _Heartbeat(
        keeper,
        stopping,
        interval=min(_env_seconds(env, HEARTBEAT_ENV, HEARTBEAT_SECONDS), MAX_HEARTBEAT),
        life_interval=_env_seconds(env, LIFE_INTERVAL_ENV, DEFAULT_LIFE_INTERVAL),
        hang_after=_env_seconds(env, HANG_AFTER_ENV, DEFAULT_HANG_AFTER),
        grace=grace,
        supervisor=supervisor,
    )
    topics: Topics | None = None
    try:
        keeper.write()
        heartbeat.start()  # from the start: a program hung anywhere stops heartbeating
        config = _load(program, args.config, args.secrets)
        _REDACT.add(config.values_to_hide())
        keeper.set_connector(config.name, config.direction)
        _configure_logging(program.connector_type.name, config.name)
        replicas, replica = _replicas(program, env)
        log.info("starting: %s", config_summary(config))
        topics = open_topics()
        if apply_topic_rule(topics, config.topic, config.create_topic):
            log.info("created topic %s", config.topic)
        keeper.beat()
        producer: Producer = (
            topics.producer(config.topic, batch_size=program.batch_size, batch_bytes=config.producer.batch_size,
                            compression=config.producer.compression)
            if config.direction == "source" else _NoProducer(config.name)
        )
        resumed = _resume(program, topics, config, env, keeper, stopping, replicas)
        ctx = ConnectorContext(config, producer, keeper, stopping, resumed, replicas, replica, topics)
        if not stopping.is_set():
            program.body(ctx)
        keeper.beat()
        producer.flush()
        deaths.check()
        final = ProgramState.STOPPED if stopping.is_set() else ProgramState.FINISHED
        keeper.set_state(final)
        keeper.watch_progress(False)  # done: idling after a finish is no hang
        if final is ProgramState.FINISHED:
            log.info("finished: %d records in topic %s", keeper.snapshot().records, config.topic)
            if is_true(env.get(STAY_AFTER_FINISH_ENV, "")):
                log.info("staying alive until stopped (%s)", STAY_AFTER_FINISH_ENV)
                stopping.wait()
        else:
            where = "delivered from" if config.direction == "sink" else "in"
            log.info("stopped on %s: %s records %s topic %s", signals.received or heartbeat.stopped_because,
                     _records_text(keeper.snapshot()), where, config.topic)
        producer.close()
        return 0
    except FluvioConnectorError as exc:
        message = deaths.fatal or str(exc)
        if not isinstance(exc, _ThreadDied):
            log.error("%s", exc)
        keeper.set_state(ProgramState.FAILED, error=message)
        return 1 if deaths.fatal else exc.exit_code
    except Exception as exc:  # a bug or an unexpected failure: the traceback helps
        log.exception("failed: %s", _describe(exc))
        keeper.set_state(ProgramState.FAILED, error=deaths.fatal or _describe(exc))
        return 1
    finally:
        keeper.watch_progress(False)
        heartbeat.stop()
        if topics is not None:
            try:
                topics.close()
            except Exception as exc:  # closing is best effort; the outcome is already decided
                log.warning("closing the topics backend: %s", _describe(exc))
        keeper.write()
        deaths.done()
        signals.done()
        _cancel_watchdogs()


class _NoProducer:
    """A sink's producer: it produces nothing."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def max_record_bytes(self) -> int:
        return 0

    def send(self, key: bytes | None, value: bytes) -> None:
        raise FluvioConnectorError(f"connector {self._name} is a sink: it produces no records")

    def send_many(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        raise FluvioConnectorError(f"connector {self._name} is a sink: it produces no records")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


def _replicas(program: Program, env: Mapping[str, str]) -> tuple[int, int | None]:
    replicas, replica = replica_settings(env)
    ctype = program.connector_type
    if replicas > 1 and not ctype.scales_out:
        raise ConfigError(f"{REPLICAS_ENV}={replicas}: a connector of type {ctype.name} runs as one instance only")
    if replicas > 1:
        which = f"replica {replica} of {replicas}" if replica is not None else f"one of {replicas} replicas"
        log.info("running as %s", which)
    return replicas, replica


def _resume(program: Program, topics: Topics, config: ConnectorConfig, env: Mapping[str, str],
            keeper: _StatusKeeper, stopping: threading.Event, replicas: int = 1) -> int:
    """Count this connector's records already in ``topic``: before the body runs (returned) or in
    the background (added to the status when counted). Not with several replicas: their records
    cannot be told apart, and each would read the whole topic for a count it cannot use."""
    own = program.own_records
    topic = config.topic
    if own is None:
        keeper.records_counted(0)
        return 0
    if replicas > 1:
        return 0
    start, given = start_offset(env, topics, topic)
    end = topics.end_offset(topic)
    if not given or start >= end:
        keeper.records_counted(0)
        return 0
    if program.resume_first:
        found = count_own(topics, topic, start, end, own, connector=config.name, beat=keeper.beat,
                          cancelled=stopping.is_set)
        if found is None:  # stopped while counting: nothing will be produced
            return 0
        keeper.records_counted(found)
        if found:
            log.info("resuming: %d records of this connector are in topic %s already", found, topic)
        return found

    def count() -> None:
        try:
            found = count_own(topics, topic, start, end, own, connector=config.name, cancelled=stopping.is_set)
        except Exception as exc:  # the count only feeds the status: the connector runs on
            if not stopping.is_set():  # (a stop closes the backend under it)
                log.warning("cannot count the records stored before this start: %s", _describe(exc))
            return
        if found is not None:
            keeper.records_counted(found)
            log.info("counted %d records this connector stored in topic %s before this start", found, topic)

    threading.Thread(target=count, name="resume-count", daemon=True).start()
    return 0


def _records_text(status: ProgramStatus) -> str:
    return str(status.records) if status.records_known else f"{status.records} (not counting earlier runs)"


def _supervisor_pid(env: Mapping[str, str]) -> int | None:
    raw = env.get(SUPERVISOR_PID_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 1 else None


def _parse_args(program: Program, argv: Sequence[str] | None) -> argparse.Namespace:
    ctype = program.connector_type
    parser = argparse.ArgumentParser(
        prog=f"python -m {ctype.module}",
        description=f"Run a {ctype.name} connector: {ctype.description}",
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="the connector config (YAML)")
    parser.add_argument(
        "--secrets", metavar="FILE", help="NAME=VALUE secrets file (default: secrets from the environment)"
    )
    return parser.parse_args(argv)


def _load(program: Program, config_path: str, secrets_path: str | None) -> ConnectorConfig:
    store: Mapping[str, str] = os.environ if secrets_path is None else read_secrets_file(secrets_path)
    config = load_config(Path(config_path), secrets=store)
    expected = program.connector_type
    if config.connector_type.name != expected.name:
        raise ConfigError(
            f"{config.origin}: type: this program runs {expected.name} connectors, the config is a "
            f"{config.type} connector (run python -m {config.connector_type.module})"
        )
    return config


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from ``env``; a bad value is reported and ``default`` used
    (a tuning knob must not stop a connector)."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        log.warning("%s=%r: expected a positive number of seconds; using %g", name, raw, default)
        return default
    return value


# --------------------------------------------------------------------------- logging


class _OneLineFormatter(logging.Formatter):
    """``2024-05-01T10:00:00.123Z INFO mqtt[name]: message``; a traceback stays indented below."""

    def __init__(self, prefix: str) -> None:
        prefix = prefix.replace("%", "%%")
        super().__init__(f"%(asctime)s.%(msecs)03dZ %(levelname)s {prefix}: %(message)s",
                         datefmt="%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        return _REDACT(super().format(record))


def _configure_logging(program: str, connector: str | None = None) -> None:
    prefix = f"{program}[{connector}]" if connector else program
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter(prefix))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_fluvio_connector", False):
            root.removeHandler(old)
    handler._fluvio_connector = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    root.setLevel(level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO")


# --------------------------------------------------------------------------- status


class _StatusKeeper:
    """The program's status, shared by its threads, written to the status file on each change.

    Records: ``records`` is what this connector has in its topic: the records of earlier runs (once
    counted; until then ``records_known`` is False) plus those this run has stored.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._status = ProgramStatus(state=ProgramState.STARTING, records_known=False)
        self._write_failed = False
        self._written = False  # once written, the file's directory is never made again
        self._produced = 0
        self._progress_at = time.monotonic()
        self._watching = True
        self._written_at = 0.0

    def snapshot(self) -> ProgramStatus:
        with self._lock:
            return replace(self._status, counters=dict(self._status.counters))

    @property
    def produced(self) -> int:
        """Records this run has stored."""
        return self._produced

    def set_connector(self, name: str, direction: str = "source") -> None:
        with self._lock:
            self._status.connector = name
            self._status.direction = direction
        self.write()

    def set_state(self, state: ProgramState, *, error: str | None = None) -> None:
        with self._lock:
            new_error = error is not None and error != self._status.last_error
            changed = self._status.state is not state or new_error
            self._status.state = state
            if error is not None:
                self._status.last_error = error
        if changed:
            self.write()

    def update(
        self, *, records: int = 0, counters: Mapping[str, int] | None = None, error: str | None = None,
        position: int | None = None, lag: int | None = None,
    ) -> None:
        """Change counters in memory; the heartbeat writes them (the hot path must stay cheap)."""
        with self._lock:
            self._status.records += records
            self._produced += records
            for name, amount in (counters or {}).items():
                self._status.counters[name] = self._status.counters.get(name, 0) + amount
            if error is not None:
                self._status.last_error = error
            if position is not None:
                self._status.position = position
            if lag is not None:
                self._status.lag = lag

    def records_counted(self, earlier: int) -> None:
        """The records of earlier runs are counted: ``earlier`` of them."""
        with self._lock:
            self._status.records += earlier
            self._status.records_known = True
        self.write()

    # ---- progress (liveness)

    def beat(self) -> None:
        self._progress_at = time.monotonic()

    def watch_progress(self, on: bool) -> None:
        """Whether silence means a hang (not once the body is done, e.g. idling after a finish)."""
        self._watching = on
        self.beat()

    def silent_for(self) -> float:
        """Seconds since the last sign of progress (0 while progress is not watched)."""
        return time.monotonic() - self._progress_at if self._watching else 0.0

    def write_soon(self) -> None:
        """Write the status file unless it was written less than ``WRITE_SOON_SECONDS`` ago (a
        sink's figures show promptly, at a bounded cost)."""
        if time.monotonic() - self._written_at >= WRITE_SOON_SECONDS:
            self.write()

    def write(self, *, heartbeat: bool = True) -> None:
        """Write the status file; ``heartbeat=False`` keeps its time stamp (the heartbeat stays
        as old as it was, for a watcher that judges liveness by it)."""
        self._written_at = time.monotonic()
        with self._lock:
            status = self._status
            if status.last_error and _REDACT:
                status = replace(status, last_error=_REDACT(status.last_error))
            try:
                write_status(self.path, status, touch=heartbeat, make_dir=not self._written)
                self._written = True
            except OSError as exc:
                if not self._write_failed:  # once is enough; it would repeat every heartbeat
                    log.warning("cannot write the status file %s: %s", self.path, exc.strerror or exc)
                self._write_failed = True
                return
            if self._write_failed:
                log.info("the status file %s is written again", self.path)
            self._write_failed = False


class _Heartbeat:
    """Rewrites the status file every ``interval`` while the program makes progress, logs proof of
    life every ``life_interval``, and stops the program when its supervisor is gone."""

    def __init__(
        self,
        keeper: _StatusKeeper,
        stopping: threading.Event,
        *,
        interval: float,
        life_interval: float,
        hang_after: float,
        grace: float,
        supervisor: int | None,
    ) -> None:
        self._keeper = keeper
        self._stopping = stopping
        self._interval = interval
        self._life_interval = life_interval
        self._hang_after = hang_after
        self._grace = grace
        self._supervisor = supervisor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._last_produced = 0
        self._hung = False
        self.stopped_because: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        next_life = time.monotonic() + self._life_interval
        while not self._stop.wait(self._interval):
            self._watch_supervisor()
            silent = self._keeper.silent_for()
            if silent < self._hang_after:
                if self._hung:
                    self._hung = False
                    log.warning("making progress again; heartbeat resumed")
                self._keeper.write()
            elif not self._hung:
                self._hung = True
                reason = f"{HUNG_PREFIX}no progress for {silent:.0f}s; heartbeat stopped so that it is restarted"
                log.error("%s", reason)
                self._keeper.update(error=reason)
                self._keeper.write(heartbeat=False)
            if time.monotonic() >= next_life:
                next_life += self._life_interval
                if not self._hung:
                    self._proof_of_life()

    def _watch_supervisor(self) -> None:
        if self._supervisor is None or self._stopping.is_set() or os.getppid() == self._supervisor:
            return
        self.stopped_because = f"the loss of its supervisor (pid {self._supervisor})"
        log.warning("its supervisor (pid %d) is gone: stopping", self._supervisor)
        self._stopping.set()
        _exit_unless_done_within(self._grace, "stopping after the loss of the supervisor")

    def _proof_of_life(self) -> None:
        status = self._keeper.snapshot()
        produced = self._keeper.produced
        recent = produced - self._last_produced
        self._last_produced = produced
        counters = "".join(f", {name} {value}" for name, value in sorted(status.counters.items()))
        if status.direction == "sink":
            counters += f", position {status.position}, lag {'unknown' if status.lag is None else status.lag}"
        log.info(
            "alive: %s, %s records%s (+%d in the last %gs)%s, last error: %s",
            status.state.value, _records_text(status), " delivered" if status.direction == "sink" else "",
            recent, self._life_interval, counters, status.last_error or "none",
        )


# --------------------------------------------------------------------------- failures


_watchdogs: list[threading.Timer] = []


def _exit_unless_done_within(grace: float, what: str) -> None:
    """A watchdog: if ``run`` has not returned ``grace`` seconds from now, exit 1 at once."""

    def give_up() -> None:
        log.error("%s took longer than %gs (flushing hung); exiting without flushing", what, grace)
        os._exit(1)

    timer = threading.Timer(grace, give_up)
    timer.daemon = True
    _watchdogs.append(timer)
    timer.start()


def _cancel_watchdogs() -> None:
    while _watchdogs:
        _watchdogs.pop().cancel()


class _ThreadDeaths:
    """A program thread that dies of an exception stops the program, which then exits 1."""

    def __init__(self, keeper: _StatusKeeper, stopping: threading.Event, grace: float) -> None:
        self._keeper = keeper
        self._stopping = stopping
        self._grace = grace
        self._previous: Callable[[threading.ExceptHookArgs], object] | None = None
        self.fatal: str | None = None

    def install(self) -> None:
        self._previous = threading.excepthook
        threading.excepthook = self._died

    def done(self) -> None:
        if self._previous is not None:
            threading.excepthook = self._previous
            self._previous = None

    def check(self) -> None:
        if self.fatal is not None:
            raise _ThreadDied(self.fatal)

    def _died(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        error = args.exc_value if args.exc_value is not None else args.exc_type()
        message = f"thread {name} died: {_describe(error)}"
        log.error("%s; stopping", message, exc_info=(args.exc_type, error, args.exc_traceback))
        if self.fatal is not None:
            return
        self.fatal = message
        self._keeper.update(error=message)
        self._keeper.write()
        self._stopping.set()
        _exit_unless_done_within(self._grace, "stopping after a thread died")


# --------------------------------------------------------------------------- signals


class _SignalHandler:
    """SIGTERM/SIGINT ask the program to stop; a second one, or a stop that takes longer than
    ``grace`` seconds (a hung backend), ends the process at once with exit code 1.

    The signals are handled in a thread of their own, woken by the interpreter's wakeup fd (written
    by the C-level handler the moment a signal arrives): what a stop does (setting the stop event,
    logging, arming the grace timer) takes locks, which a Python handler would take in the main
    thread at whatever point it was interrupted (possibly holding one of them), and a main thread
    blocked in a C call (a driver waiting for its server) would not run a Python handler at all."""

    def __init__(self, stopping: threading.Event, grace: float, supervisor: int | None = None) -> None:
        self._stopping = stopping
        self._grace = grace
        self._supervisor = supervisor
        self._previous: dict[int, object] = {}
        self._previous_fd = -1
        self._pipe: tuple[int, int] | None = None
        self.received: str | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only live in the main thread (e.g. run() in a test thread)
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._pipe = (read, write)
        self._previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, _ignore)
        threading.Thread(target=self._watch, args=(read,), name="signals", daemon=True).start()

    def done(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()
        if self._pipe is not None:
            signal.set_wakeup_fd(self._previous_fd)
            os.close(self._pipe[1])  # the watcher reads the end of the pipe and closes its side
            self._pipe = None

    def _watch(self, read: int) -> None:
        try:
            while data := os.read(read, 64):
                for signum in data:
                    if signum in (signal.SIGTERM, signal.SIGINT):
                        self._handle(signum)
        finally:
            os.close(read)

    def _handle(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stopping.is_set() and self.received is not None:
            log.warning("second %s: exiting now without flushing", name)
            os._exit(1)
        orphaned = self._supervisor is not None and os.getppid() != self._supervisor
        self.received = f"{name} (its supervisor, pid {self._supervisor}, is gone)" if orphaned else name
        self._stopping.set()
        log.info("%s received: finishing the current batch, flushing and stopping", self.received)
        _exit_unless_done_within(self._grace, "stopping")


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler: nothing (the signal thread acts on the wakeup fd)."""


__all__ = ["ConnectorContext", "Program", "main", "run"]
