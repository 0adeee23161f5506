"""The ConnectorRuntime port and the one status vocabulary both runtimes report in."""

from __future__ import annotations

import builtins
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fluvio_connectors.config import ConnectorConfig
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.names import check_connector_name
from fluvio_connectors.replicas import check_replicas
from fluvio_connectors.settings import Settings
from fluvio_connectors.topics import Topics, apply_topic_rule, open_topics
from fluvio_connectors.topics.base import uncompressed_log


class ConnectorStatus(StrEnum):
    PENDING = "Pending"  # accepted, not ready yet
    RUNNING = "Running"  # ready and producing
    FAILED = "Failed"  # crash loop, bad image, bad config, topic missing: see reason
    STOPPED = "Stopped"  # finished on its own (a finite count)


@dataclass(frozen=True)
class ReplicaStatus:
    """One replica of a connector as its runtime sees it (``runtimes.replicas`` combines them)."""

    name: str  # "0", "1", ... locally; the pod name on Kubernetes
    status: ConnectorStatus
    reason: str | None = None
    pending_since: datetime | None = None
    restarts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "reason": self.reason, "restarts": self.restarts}


@dataclass(frozen=True)
class ConnectorInfo:
    """What a runtime knows about one connector. Never holds secret values."""

    name: str
    type: str
    topic: str
    status: ConnectorStatus
    runtime: str
    version: str = "latest"
    reason: str | None = None
    started_at: datetime | None = None
    restarts: int = 0
    # The connector's records in its topic since it was created (earlier runs' included); None
    # when the runtime cannot tell (e.g. Kubernetes, or while a restarted program counts them).
    records: int | None = None
    # How many records the connector produces in all, where its config says (a test-connector's
    # ``count``); None for a connector without an end, or where the runtime does not tell.
    records_target: int | None = None
    # Counters of the program's current run (since its last start or restart).
    counters: dict[str, int] = field(default_factory=dict)
    # While Pending: since when, without a break (the runtime's knowledge; None when it has none).
    pending_since: datetime | None = None
    # Instances splitting the source (``fluvio_connectors.replicas``), how many are Running, and
    # each one's status when there are several (``runtimes.replicas``: how they make the status).
    replicas: int = 1
    replicas_running: int = 0
    replica_statuses: tuple[ReplicaStatus, ...] = ()
    # source or sink. A sink's ``records`` are the records it delivered; ``lag`` is how many
    # records its topic holds after its position (None when unknown: no position yet, or the
    # topics backend could not be asked); ``position`` the offset it reads next.
    direction: str = "source"
    lag: int | None = None
    position: int | None = None
    # The program's last error, also while it runs (a retried failure), unlike ``reason``.
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (for ``-O json`` and XCom)."""
        return {
            "name": self.name,
            "type": self.type,
            "topic": self.topic,
            "status": self.status.value,
            "reason": self.reason,
            "runtime": self.runtime,
            "version": self.version,
            "started_at": self.started_at.astimezone(UTC).isoformat() if self.started_at else None,
            "restarts": self.restarts,
            "records": self.records,
            "records_target": self.records_target,
            "counters": dict(self.counters),
            "pending_since": self.pending_since.astimezone(UTC).isoformat() if self.pending_since else None,
            "replicas": self.replicas,
            "replicas_running": self.replicas_running,
            "replica_statuses": [r.to_dict() for r in self.replica_statuses],
            "direction": self.direction,
            "lag": self.lag,
            "position": self.position,
            "last_error": self.last_error,
        }


class ConnectorRuntime(ABC):
    """Where connectors run. ``create`` validates, applies the topic rule, then starts."""

    kind: str = ""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()

    def topics(self) -> Topics:
        return open_topics(self.settings)

    def topics_backend(self) -> str:
        """Where the connectors' programs keep topics: ``fluvio`` or ``embedded``."""
        return self.settings.topics_backend

    def create(self, config: ConnectorConfig, replicas: int = 1) -> ConnectorInfo:
        """Start ``config``'s connector as ``replicas`` instances. ``ConnectorExistsError`` if the
        name is taken, ``TopicMissingError`` (and nothing created) if the topic is missing and
        ``create_topic`` is not set, ``ConfigError`` for replicas its type cannot split."""
        check_connector_name(config.name)  # also for a config built without validation
        replicas = check_replicas(replicas)
        ctype = config.connector_type
        if replicas > 1 and ctype.direction == "sink":
            raise ConfigError(
                f"replicas: a {ctype.name} connector cannot be split between {replicas} instances (a sink reads its "
                "partition from one position: several would deliver every record several times, or fight over "
                "the position); expected 1"
            )
        if replicas > 1 and not ctype.scales_out:
            raise ConfigError(
                f"replicas: a connector of type {ctype.name} cannot be split between {replicas} instances (it produces one "
                "exact sequence: each would produce it again); expected 1"
            )
        self._check_runnable(config)
        if config.producer.compression != "none" and self.topics_backend() != "fluvio":
            raise uncompressed_log(config.producer.compression)
        with self._name_lock(config.name):
            resumed = self._take_over_interrupted(config, replicas)
            if resumed is None:
                self._check_absent(config.name)
            topics = self.topics()
            try:
                apply_topic_rule(topics, config.topic, config.create_topic)
                # Where this connector's records begin: every run of its program continues from
                # what the topic holds from here on (fluvio_connectors.resume).
                start_offset = topics.end_offset(config.topic) if resumed is None else resumed
            finally:
                topics.close()
            return self._start(config, start_offset, replicas)

    def _take_over_interrupted(self, config: ConnectorConfig, replicas: int) -> int | None:
        """Where the records of a create of this same config that was interrupted begin (its
        leftovers are removed: this create finishes it), or None (the default: no such thing)."""
        return None

    def _check_runnable(self, config: ConnectorConfig) -> None:  # noqa: B027 - optional hook, not abstract
        """``ConfigError`` for a config this runtime cannot run (checked before anything is made)."""

    def _name_lock(self, name: str) -> contextlib.AbstractContextManager[object]:
        """Held across check, topic rule and start, so two creates of one name cannot both win
        (a runtime whose backend already refuses duplicates atomically needs none)."""
        return contextlib.nullcontext()

    @abstractmethod
    def _check_absent(self, name: str) -> None:
        """Raise ``ConnectorExistsError`` if ``name`` exists."""

    @abstractmethod
    def _start(self, config: ConnectorConfig, start_offset: int, replicas: int = 1) -> ConnectorInfo:
        """Start the connector's ``replicas`` instances (the name is free and the topic is ready);
        every run of its program gets ``start_offset`` as ``FLUVIO_CONNECTOR_START_OFFSET``."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Stop the connector and remove its runtime objects; the topic and records stay.
        ``ConnectorNotFoundError`` if there is no such connector."""

    @abstractmethod
    def list(self) -> builtins.list[ConnectorInfo]:
        """Every connector this runtime manages, sorted by name."""

    @abstractmethod
    def status(self, name: str) -> ConnectorInfo:
        """``ConnectorNotFoundError`` if there is no such connector."""

    @abstractmethod
    def logs(self, name: str, tail: int | None = 100, replica: str | None = None) -> builtins.list[str]:
        """The last ``tail`` lines of the connector's log (all with None). With several replicas,
        every replica's lines, each prefixed with its name, in time order; or only ``replica``'s."""

    def config(self, name: str) -> dict[str, Any]:
        """The config the connector runs, as stored (``ConnectorConfig.document()``: secret names,
        never values). ``ConnectorNotFoundError`` if there is no such connector."""
        raise NotImplementedError(f"{self.kind} runtime cannot show a connector's config")

    def follow_logs(self, name: str, tail: int | None = 10, replica: str | None = None) -> Iterator[str]:
        """The last ``tail`` lines, then each new line as it is written (``logs -f``); ends when
        the connector is gone or has exited."""
        raise NotImplementedError(f"{self.kind} runtime cannot follow logs")

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release clients (no-op by default)."""

    def with_lag(self, infos: builtins.list[ConnectorInfo],
                 positions: dict[str, SinkPosition]) -> builtins.list[ConnectorInfo]:
        """``infos`` with each sink's position and lag read from the topics backend (``positions``:
        connector name -> where its position is kept). Best effort: a backend that cannot be asked
        leaves them unknown (None), never fails a status."""
        wanted = [i for i in infos if i.name in positions]
        if not wanted:
            return infos
        found: dict[str, tuple[int | None, int | None]] = {}
        try:
            topics = self.topics()
        except FluvioConnectorError:
            return infos
        try:
            for info in wanted:
                where = positions[info.name]
                try:
                    position = topics.consumer_position(where.consumer, info.topic, where.partition)
                    end = topics.end_offset(info.topic, where.partition)
                except FluvioConnectorError:
                    continue
                found[info.name] = (position, None if position is None else max(0, end - position))
        finally:
            with contextlib.suppress(Exception):
                topics.close()
        return [replace(i, position=found[i.name][0], lag=found[i.name][1]) if i.name in found else i for i in infos]


@dataclass(frozen=True)
class SinkPosition:
    """Where a sink's position is kept in the topics backend: its named consumer and partition."""

    consumer: str
    partition: int = 0

    @classmethod
    def of(cls, name: str, document: dict[str, Any]) -> SinkPosition:
        """From a config document (``consumer: {id, partition}``; the id defaults to ``name``)."""
        found = document.get("consumer")
        consumer: dict[str, Any] = found if isinstance(found, dict) else {}
        partition = consumer.get("partition", 0)
        return cls(str(consumer.get("id") or name), partition if isinstance(partition, int) else 0)
