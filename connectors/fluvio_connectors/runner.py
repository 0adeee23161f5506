"""The lifecycle every connector program shares.

``python -m fluvio_connectors.<program> --config FILE [--secrets FILE]``:

1. load and validate the config; secrets come from the ``NAME=VALUE`` secrets file when one is
   given, else from the environment;
2. open the topics backend the environment names and apply the seed's topic rule
   (``create_topic: true`` creates a missing topic; otherwise a missing topic is an error);
3. run the program's body, which reports readiness once its source is connected too;
4. on SIGTERM or SIGINT let the body finish its batch, flush, and exit 0 within a few seconds
   (also as PID 1 in a container: the handlers are installed explicitly).

Throughout it keeps the status file (``FLUVIO_CONNECTOR_STATUS_FILE``) current: the state, the
counters and the last error, rewritten on every change and at least every heartbeat, and it logs a
proof-of-life line at a fixed interval. Logs go to stderr, one line each, never a secret value:
once the config is loaded, every log line and the status file's last error pass through a
``Redactor`` holding the config's secret values (whatever a library or a message happens to say).

Exit codes: 0 finished or stopped by a signal; 1 an operation failed (topic missing, backend or
source refused); 2 bad usage or bad config. Expected errors are one line without a traceback.

Environment knobs (mostly for tests and orchestrators):
``FLUVIO_CONNECTOR_HEARTBEAT``      seconds between status file rewrites (default 5, at most 10);
``FLUVIO_CONNECTOR_LIFE_INTERVAL``  seconds between proof-of-life log lines (default 30);
``FLUVIO_CONNECTOR_STOP_GRACE``     seconds a stop may take before the program gives up flushing
                                    and exits 1 (default 8: inside the 10 s supervisors usually allow);
``FLUVIO_CONNECTOR_LOG_LEVEL``     DEBUG, INFO (default), WARNING or ERROR;
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import NoReturn

from fluvio_connectors.catalog import ConnectorType
from fluvio_connectors.config import ConnectorConfig, config_summary, load_config, read_secrets_file
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.messages import Redactor
from fluvio_connectors.status import (
    HEARTBEAT_SECONDS,
    ProgramState,
    ProgramStatus,
    status_path,
    write_status,
)
from fluvio_connectors.topics import Producer, Topics, apply_topic_rule, open_topics

HEARTBEAT_ENV = "FLUVIO_CONNECTOR_HEARTBEAT"
LIFE_INTERVAL_ENV = "FLUVIO_CONNECTOR_LIFE_INTERVAL"
STOP_GRACE_ENV = "FLUVIO_CONNECTOR_STOP_GRACE"
STAY_AFTER_FINISH_ENV = "FLUVIO_CONNECTOR_STAY_AFTER_FINISH"
LOG_LEVEL_ENV = "FLUVIO_CONNECTOR_LOG_LEVEL"

DEFAULT_LIFE_INTERVAL = 30.0
DEFAULT_STOP_GRACE = 8.0
# A heartbeat must stay well inside status.STALE_AFTER_SECONDS or the probe reports a live
# connector as hung.
MAX_HEARTBEAT = 10.0

log = logging.getLogger("fluvio_connectors")
# The loaded config's secret values: removed from every log line and status error of this process.
_REDACT = Redactor()


class ConnectorContext:
    """What a program body works with: its config, its producer, its status and the stop signal.

    Thread-safe: a body may report from several threads (an MQTT network thread and its writer).
    """

    def __init__(
        self,
        config: ConnectorConfig,
        producer: Producer,
        status: _StatusKeeper,
        stopping: threading.Event,
    ) -> None:
        self.config = config
        self.producer = producer
        self.stopping = stopping
        self._status = status

    @property
    def records(self) -> int:
        """Records stored so far."""
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
        self._status.update(records=count, counters=counters)

    def count(self, counter: str, amount: int = 1) -> None:
        """Add ``amount`` to a named counter shown in the status and the proof-of-life line."""
        self._status.update(counters={counter: amount})

    def counter(self, counter: str) -> int:
        return self._status.snapshot().counters.get(counter, 0)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when a stop is requested; True if stopping."""
        return self.stopping.wait(max(0.0, seconds))


Body = Callable[[ConnectorContext], None]


@dataclass(frozen=True)
class Program:
    """A connector program: the connector type it runs and its body.

    The body returns when it has finished on its own or when ``ctx.stopping`` is set; the runner
    then flushes the producer. It raises ``FluvioConnectorError`` for expected fatal errors.
    """

    connector_type: ConnectorType
    body: Body
    # Records the producer stores per transaction at most (the body may flush sooner).
    batch_size: int = 500


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
    signals = _SignalHandler(stopping, _env_seconds(env, STOP_GRACE_ENV, DEFAULT_STOP_GRACE))
    signals.install()
    heartbeat: _Heartbeat | None = None
    topics: Topics | None = None
    try:
        keeper.write()
        config = _load(program, args.config, args.secrets)
        _REDACT.add(config.secret_values().values())
        keeper.set_connector(config.name)
        _configure_logging(program.connector_type.name, config.name)
        log.info("starting: %s", config_summary(config))
        topics = open_topics()
        if apply_topic_rule(topics, config.topic, config.create_topic):
            log.info("created topic %s", config.topic)
        producer = topics.producer(config.topic, batch_size=program.batch_size)
        heartbeat = _Heartbeat(
            keeper,
            interval=min(_env_seconds(env, HEARTBEAT_ENV, HEARTBEAT_SECONDS), MAX_HEARTBEAT),
            life_interval=_env_seconds(env, LIFE_INTERVAL_ENV, DEFAULT_LIFE_INTERVAL),
        )
        heartbeat.start()
        ctx = ConnectorContext(config, producer, keeper, stopping)
        if not stopping.is_set():
            program.body(ctx)
        producer.flush()
        final = ProgramState.STOPPED if stopping.is_set() else ProgramState.FINISHED
        keeper.set_state(final)
        if final is ProgramState.FINISHED:
            log.info("finished: %d records in topic %s", keeper.snapshot().records, config.topic)
            if env.get(STAY_AFTER_FINISH_ENV, "").lower() in ("1", "true", "yes"):
                log.info("staying alive until stopped (%s)", STAY_AFTER_FINISH_ENV)
                stopping.wait()
        else:
            log.info("stopped on %s: %d records in topic %s", signals.received, keeper.snapshot().records,
                     config.topic)
        producer.close()
        return 0
    except FluvioConnectorError as exc:
        log.error("%s", exc)
        keeper.set_state(ProgramState.FAILED, error=str(exc))
        return exc.exit_code
    except Exception as exc:  # a bug or an unexpected failure: the traceback helps
        log.exception("failed: %s", _describe(exc))
        keeper.set_state(ProgramState.FAILED, error=_describe(exc))
        return 1
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        if topics is not None:
            try:
                topics.close()
            except Exception as exc:  # closing is best effort; the outcome is already decided
                log.warning("closing the topics backend: %s", _describe(exc))
        keeper.write()
        signals.done()


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
    """The program's status, shared by its threads, written to the status file on each change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._status = ProgramStatus(state=ProgramState.STARTING)
        self._write_failed = False

    def snapshot(self) -> ProgramStatus:
        with self._lock:
            return replace(self._status, counters=dict(self._status.counters))

    def set_connector(self, name: str) -> None:
        with self._lock:
            self._status.connector = name
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
        self, *, records: int = 0, counters: Mapping[str, int] | None = None, error: str | None = None
    ) -> None:
        """Change counters in memory; the heartbeat writes them (the hot path must stay cheap)."""
        with self._lock:
            self._status.records += records
            for name, amount in (counters or {}).items():
                self._status.counters[name] = self._status.counters.get(name, 0) + amount
            if error is not None:
                self._status.last_error = error

    def write(self) -> None:
        with self._lock:
            status = self._status
            if status.last_error and _REDACT:
                status = replace(status, last_error=_REDACT(status.last_error))
            try:
                write_status(self.path, status)
            except OSError as exc:
                if not self._write_failed:  # once is enough; it would repeat every heartbeat
                    log.warning("cannot write the status file %s: %s", self.path, exc.strerror or exc)
                self._write_failed = True
                return
            if self._write_failed:
                log.info("the status file %s is written again", self.path)
            self._write_failed = False


class _Heartbeat:
    """Rewrites the status file every ``interval`` and logs proof of life every ``life_interval``."""

    def __init__(self, keeper: _StatusKeeper, *, interval: float, life_interval: float) -> None:
        self._keeper = keeper
        self._interval = interval
        self._life_interval = life_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._last_records = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        next_life = time.monotonic() + self._life_interval
        while not self._stop.wait(self._interval):
            self._keeper.write()
            if time.monotonic() >= next_life:
                next_life += self._life_interval
                self._proof_of_life()

    def _proof_of_life(self) -> None:
        status = self._keeper.snapshot()
        recent = status.records - self._last_records
        self._last_records = status.records
        counters = "".join(f", {name} {value}" for name, value in sorted(status.counters.items()))
        log.info(
            "alive: %s, %d records (+%d in the last %gs)%s, last error: %s",
            status.state.value, status.records, recent, self._life_interval, counters,
            status.last_error or "none",
        )


# --------------------------------------------------------------------------- signals


class _SignalHandler:
    """SIGTERM/SIGINT ask the program to stop; a second one, or a stop that takes longer than
    ``grace`` seconds (a hung backend), ends the process at once with exit code 1."""

    def __init__(self, stopping: threading.Event, grace: float) -> None:
        self._stopping = stopping
        self._grace = grace
        self._previous: dict[int, object] = {}
        self._watchdog: threading.Timer | None = None
        self.received: str | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only live in the main thread (e.g. run() in a test thread)
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)

    def done(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stopping.is_set() and self.received is not None:
            log.warning("second %s: exiting now without flushing", name)
            os._exit(1)
        self.received = name
        self._stopping.set()
        log.info("%s received: finishing the current batch, flushing and stopping", name)
        self._watchdog = threading.Timer(self._grace, self._give_up)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _give_up(self) -> None:
        log.error("could not stop within %gs (flushing hung); exiting without flushing", self._grace)
        os._exit(1)


__all__ = ["ConnectorContext", "Program", "main", "run"]
