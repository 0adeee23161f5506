"""One exception family for the whole project.

The CLI maps each error to an exit code (``exit_code``) and prints ``str(error)`` as one line;
the Airflow layer turns it into a task failure with the same message.
"""

from __future__ import annotations


class FluvioConnectorError(Exception):
    """Base of every error this project raises on purpose."""

    exit_code = 1


class ConfigError(FluvioConnectorError):
    """A connector config (or another user input) is invalid."""

    exit_code = 2


class ConnectorExistsError(FluvioConnectorError):
    def __init__(self, name: str, hint: str = "") -> None:
        super().__init__(f"connector {name} already exists{hint}")
        self.name = name


class ConnectorNotFoundError(FluvioConnectorError):
    def __init__(self, name: str) -> None:
        super().__init__(f"connector {name} not found")
        self.name = name


class TopicMissingError(FluvioConnectorError):
    """The topic does not exist and the config does not ask to create it."""

    def __init__(self, topic: str) -> None:
        super().__init__(
            f"topic {topic} does not exist; create it first "
            f"(fluvio-connector topic create {topic}) or set create_topic: true in the config"
        )
        self.topic = topic


class TopicNotFoundError(FluvioConnectorError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic} not found")
        self.topic = topic


class BackendError(FluvioConnectorError):
    """The topics backend or the connector runtime could not be reached or refused a call."""


class DependencyError(FluvioConnectorError):
    """An installed library lacks what the project relies on (a private name of a pinned version)."""

    @classmethod
    def missing(cls, package: str, names: list[str], purpose: str, wanted: str) -> DependencyError:
        """``paho-mqtt 2.3.0 lacks Client._packet_read, which the MQTT source relies on; install
        paho-mqtt>=2.2,<2.3 (as connectors/requirements.txt pins)``."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = f"{package} {version(package)}"
        except PackageNotFoundError:
            installed = package
        return cls(f"{installed} lacks {', '.join(names)}, which {purpose} relies on; install "
                   f"{package}{wanted} (as connectors/requirements.txt pins)")


class RecordTooLargeError(FluvioConnectorError):
    """A record larger than its topic backend stores: refused before it is queued."""

    def __init__(self, topic: str, size: int, limit: int) -> None:
        super().__init__(f"a record of {size} bytes is larger than topic {topic} can store "
                         f"({limit} bytes at most for key and value)")
        self.topic = topic
        self.size = size
        self.limit = limit


class ConsumerNotFoundError(FluvioConnectorError):
    """No committed position for this named consumer (on this topic)."""

    def __init__(self, consumer: str, topic: str | None = None) -> None:
        where = f" on topic {topic}" if topic else ""
        super().__init__(f"consumer {consumer} has no committed position{where}")
        self.consumer = consumer
        self.topic = topic
