"""The topics port: where records go.

``open_topics()`` is the one place that picks a backend from the settings: the embedded log
(SQLite, default) or a Fluvio cluster (``FLUVIO_ENDPOINT`` or the user's profile). Both return
``Record(offset, key, value, timestamp)`` when reading.

Named consumers (``consumer_position``, ``commit``, ``list_consumers``, ``delete_consumer``) keep a
position per (consumer, topic, partition) that only ``commit`` moves; ``topics/consumers.py`` says
what a position and a commit mean and how to resume.
"""

from __future__ import annotations

from fluvio_connectors.settings import Settings
from fluvio_connectors.topics.base import (
    READ_BYTES,
    ConsumerPosition,
    Producer,
    Record,
    TopicIdentity,
    TopicInfo,
    Topics,
    apply_topic_rule,
)
from fluvio_connectors.topics.retention import Retention


def open_topics(settings: Settings | None = None) -> Topics:
    """The topics backend the settings name (the environment when ``settings`` is None)."""
    settings = settings or Settings.from_env()
    if settings.topics_backend == "fluvio":
        from fluvio_connectors.topics.fluvio import FluvioTopics

        return FluvioTopics(endpoint=settings.fluvio_endpoint)
    from fluvio_connectors.topics.embedded import EmbeddedTopics

    return EmbeddedTopics(settings.log_path, synchronous=settings.embedded_sync)


__all__ = ["READ_BYTES", "ConsumerPosition", "Producer", "Record", "Retention", "TopicIdentity", "TopicInfo", "Topics",
           "apply_topic_rule", "open_topics"]
