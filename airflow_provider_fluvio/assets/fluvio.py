"""Asset URIs for Fluvio topics: the sanitizer, the factory, the OpenLineage converter, the helper.

A topic is named by where it lives:

* ``fluvio://HOST:PORT/TOPIC``: a topic of the Fluvio cluster whose SC is at ``HOST:PORT``. The host is
  lowercased and the port defaults to 9003, so ``fluvio://SC.example.com/orders`` and
  ``fluvio://sc.example.com:9003/orders`` are the same asset.
* ``fluvio+embedded://localhost/TOPIC``: a topic of the embedded log on the machine that runs the
  task. A different scheme, so it is never taken for a cluster's topic; ``localhost`` because such a
  log is private to one machine (``fluvio+embedded:///TOPIC`` means the same).

The path is exactly one valid topic name; a URI with anything else (no topic, a deeper path, a
query, credentials, a port on the embedded log) is refused with a ``ValueError`` saying why, which
Airflow shows where the asset is declared.

``fluvio_topic_asset("orders")`` builds the asset for DAG files without looking anything up: the
topic lives in the cluster named by ``endpoint=``, else in ``FLUVIO_ENDPOINT`` of the environment
(the same variable the hook falls back on), else in the embedded log. With ``fluvio_conn_id=`` it
reads that connection (when the DAG file is parsed) and names the cluster the hook would use. Hooks
report lineage with the same URIs (``assets/lineage.py``), built from the connection they actually
use.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetWatcher

SCHEME = "fluvio"
EMBEDDED_SCHEME = "fluvio+embedded"
EMBEDDED_HOST = "localhost"
DEFAULT_PORT = 9003
ENDPOINT_ENV = "FLUVIO_ENDPOINT"
# The same rule as fluvio_connectors.config.TOPIC_NAME, kept here so this module imports nothing heavy.
_TOPIC = re.compile(r"^[a-z0-9][-a-z0-9]{0,62}$")


def _topic_of(uri: SplitResult) -> str:
    topic = uri.path[1:] if uri.path.startswith("/") else uri.path
    if not topic:
        raise ValueError(f"{uri.scheme}:// asset URI must name a topic, e.g. {uri.scheme}://{uri.netloc or 'host'}/my-topic")
    if "/" in topic or not _TOPIC.match(topic):
        raise ValueError(
            f"{topic!r} in a {uri.scheme}:// asset URI is not a topic name; expected lowercase letters, "
            "digits and '-' (not first), at most 63 characters, as the only path segment"
        )
    return topic


def _split_endpoint(netloc: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST[:PORT]`` (IPv6 in brackets), port 9003 by default."""
    if "@" in netloc:
        raise ValueError("a fluvio:// asset URI must not carry credentials")
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{netloc!r} is not a valid Fluvio SC address ({exc}); expected host[:port]") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("a fluvio:// asset URI must name the Fluvio SC host, e.g. fluvio://sc.example.com:9003/my-topic")
    return host, port or DEFAULT_PORT


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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
    return uri._replace(netloc=_netloc(host, port), path=f"/{topic}", fragment="")


def topic_uri(topic: str, endpoint: str | None = None) -> str:
    """The asset URI of ``topic`` in the cluster at ``endpoint`` (``host[:port]``), or in the
    embedded log when ``endpoint`` is None. ``ValueError`` for a bad topic or endpoint."""
    if endpoint:
        text = endpoint.split("://", 1)[1] if "://" in endpoint else endpoint
        host, port = _split_endpoint(text.strip().rstrip("/"))
        uri = SplitResult(SCHEME, _netloc(host, port), f"/{topic}", "", "")
    else:
        uri = SplitResult(EMBEDDED_SCHEME, EMBEDDED_HOST, f"/{topic}", "", "")
    return sanitize_uri(uri).geturl()


def create_asset(*, topic: str, endpoint: str | None = None, extra: dict[str, Any] | None = None) -> Asset:
    """Airflow's asset factory for the ``fluvio`` schemes (hook lineage calls it with keywords)."""
    from airflow.sdk import Asset

    return Asset(uri=topic_uri(topic, endpoint), extra=extra)


def fluvio_topic_asset(
    topic: str,
    *,
    endpoint: str | None = None,
    fluvio_conn_id: str | None = None,
    name: str | None = None,
    group: str | None = None,
    extra: dict[str, Any] | None = None,
    watchers: list[AssetWatcher] | None = None,
) -> Asset:
    """The asset of ``topic``, for ``outlets``, ``inlets`` and ``schedule``; no look-ups, so safe
    at the top of a DAG file.

    :param topic: The topic name.
    :param endpoint: ``host[:port]`` of the Fluvio SC holding the topic. Default: ``FLUVIO_ENDPOINT``
        of the environment, and without it the embedded log.
    :param fluvio_conn_id: Instead of ``endpoint``: the ``fluvio`` connection whose cluster holds the
        topic, so the asset is the one the hook's lineage reports for that connection. The
        connection is read when the DAG file is parsed (a look-up each parse; ``endpoint`` needs
        none).
    :param name: The asset's name (default: its URI).
    :param group: The asset's group (default Airflow's, ``asset``).
    :param extra: The asset's extra.
    :param watchers: ``AssetWatcher``s that turn records into asset events, e.g.
        ``[fluvio_topic_watcher("orders")]`` (``triggers/records.py``).
    """
    from airflow.sdk import Asset

    if fluvio_conn_id is not None:
        if endpoint is not None:
            raise ValueError("fluvio_topic_asset takes endpoint or fluvio_conn_id, not both")
        uri = _connection_topic_uri(topic, fluvio_conn_id)
    else:
        uri = topic_uri(topic, endpoint if endpoint is not None else os.environ.get(ENDPOINT_ENV) or None)
    kwargs: dict[str, Any] = {"name": name or uri, "uri": uri, "extra": extra or {}, "watchers": list(watchers or [])}
    if group:
        kwargs["group"] = group
    return Asset(**kwargs)


def _connection_topic_uri(topic: str, conn_id: str) -> str:
    """The URI of ``topic`` where the hook of ``conn_id`` keeps topics; ValueError when that is unknown."""
    from airflow_provider_fluvio.assets.lineage import settings_topic_uri
    from airflow_provider_fluvio.hooks.fluvio import FluvioHook
    from fluvio_connectors.errors import FluvioConnectorError

    topic_uri(topic)  # the topic's own errors first, whatever the connection
    try:
        uri = settings_topic_uri(FluvioHook(fluvio_conn_id=conn_id).settings, topic)
    except FluvioConnectorError as exc:
        raise ValueError(f"fluvio_topic_asset({topic!r}, fluvio_conn_id={conn_id!r}): {exc}") from None
    if uri is None:
        raise ValueError(f"connection {conn_id} names no Fluvio cluster address (it uses a Fluvio profile): "
                         f"pass endpoint='HOST:PORT' for the asset of {topic!r}")
    return uri


def openlineage_identity(uri: str) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a Fluvio asset URI: the cluster (or the embedded log)
    and the topic."""
    parts = sanitize_uri(urlsplit(uri))
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> Any:
    """Airflow's OpenLineage converter for the ``fluvio`` schemes."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, name = openlineage_identity(asset.uri)
    return Dataset(namespace=namespace, name=name)


__all__ = [
    "EMBEDDED_SCHEME",
    "SCHEME",
    "convert_asset_to_openlineage",
    "create_asset",
    "fluvio_topic_asset",
    "openlineage_identity",
    "sanitize_uri",
    "topic_uri",
]
