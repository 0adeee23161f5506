"""Asset URIs of Fluvio topics: the pure rule, with no Airflow and no connection.

A topic is named by where it lives:

* ``fluvio://HOST:PORT/TOPIC``: a topic of the Fluvio cluster whose SC is at ``HOST:PORT``. The host is
  lowercased and the port defaults to 9003, so ``fluvio://SC.example.com/orders`` and
  ``fluvio://sc.example.com:9003/orders`` are the same asset.
* ``fluvio+embedded://localhost/TOPIC``: a topic of the embedded log on the machine that runs the
  task. A different scheme, so it is never taken for a cluster's topic; ``localhost`` because such a
  log is private to one machine (``fluvio+embedded:///TOPIC`` means the same).

The path is exactly one valid topic name; a URI with anything else (no topic, a deeper path, a
query, credentials, a port on the embedded log) is refused with a ``ValueError`` saying why, which
Airflow shows where the asset is declared. ``assets/fluvio.py`` builds assets from these URIs; the
hook's lineage (``assets/lineage.py``) reports the same URIs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from fluvio_connectors.endpoints import join_host_port, split_host_port
from fluvio_connectors.names import TOPIC_NAME_RULE, is_topic_name

if TYPE_CHECKING:
    from fluvio_connectors.settings import Settings

SCHEME = "fluvio"
EMBEDDED_SCHEME = "fluvio+embedded"
EMBEDDED_HOST = "localhost"
DEFAULT_PORT = 9003
ENDPOINT_ENV = "FLUVIO_ENDPOINT"


def _topic_of(uri: SplitResult) -> str:
    topic = uri.path[1:] if uri.path.startswith("/") else uri.path
    if not topic:
        raise ValueError(f"{uri.scheme}:// asset URI must name a topic, e.g. {uri.scheme}://{uri.netloc or 'host'}/my-topic")
    if not is_topic_name(topic):
        raise ValueError(
            f"{topic!r} in a {uri.scheme}:// asset URI is not a topic name; expected {TOPIC_NAME_RULE}, "
            "as the only path segment"
        )
    return topic


def _split_endpoint(netloc: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST[:PORT]`` (IPv6 in brackets, or bare without a port), port 9003 by
    default (``fluvio_connectors.endpoints``: the hook reads a connection's host the same way)."""
    if "@" in netloc:
        raise ValueError("a fluvio:// asset URI must not carry credentials")
    if not netloc:
        raise ValueError("a fluvio:// asset URI must name the Fluvio SC host, e.g. fluvio://sc.example.com:9003/my-topic")
    try:
        host, port = split_host_port(netloc)
    except ValueError as exc:
        raise ValueError(f"{netloc!r} is not a valid Fluvio SC address ({exc}); expected host[:port]") from None
    return host.lower(), port or DEFAULT_PORT


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's URI handler for ``fluvio`` and ``fluvio+embedded``: normalise or ``ValueError``."""
    if uri.query:
        raise ValueError(f"a {uri.scheme}:// asset URI takes no query, got {uri.query!r}")
    topic = _topic_of(uri)
    if uri.scheme == EMBEDDED_SCHEME:
        if uri.netloc not in ("", EMBEDDED_HOST):
            raise ValueError(
                f"the embedded log is local to one machine: expected {EMBEDDED_SCHEME}://{EMBEDDED_HOST}/{topic}, "
                f"got host {uri.netloc!r}"
            )
        return uri._replace(netloc=EMBEDDED_HOST, path=f"/{topic}", fragment="")
    host, port = _split_endpoint(uri.netloc)
    return uri._replace(netloc=join_host_port(host, port), path=f"/{topic}", fragment="")


def topic_uri(topic: str, endpoint: str | None = None) -> str:
    """The asset URI of ``topic`` in the cluster at ``endpoint`` (``host[:port]``), or in the
    embedded log when ``endpoint`` is None. ``ValueError`` for a bad topic or endpoint."""
    if endpoint:
        text = endpoint.split("://", 1)[1] if "://" in endpoint else endpoint
        host, port = _split_endpoint(text.strip().rstrip("/"))
        uri = SplitResult(SCHEME, join_host_port(host, port), f"/{topic}", "", "")
    else:
        uri = SplitResult(EMBEDDED_SCHEME, EMBEDDED_HOST, f"/{topic}", "", "")
    return sanitize_uri(uri).geturl()


def settings_topic_uri(settings: Settings, topic: str) -> str | None:
    """The asset URI of ``topic`` where ``settings`` keep topics (None: a Fluvio profile, whose
    cluster address is not known without reading the profile)."""
    if settings.fluvio_endpoint:
        return topic_uri(topic, settings.fluvio_endpoint)
    if settings.use_fluvio_profile:
        return None
    return topic_uri(topic)


def openlineage_identity(uri: str) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a Fluvio asset URI: the cluster (or the embedded log)
    and the topic."""
    parts = sanitize_uri(urlsplit(uri))
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


__all__ = [
    "DEFAULT_PORT",
    "EMBEDDED_HOST",
    "EMBEDDED_SCHEME",
    "ENDPOINT_ENV",
    "SCHEME",
    "openlineage_identity",
    "sanitize_uri",
    "settings_topic_uri",
    "topic_uri",
]
