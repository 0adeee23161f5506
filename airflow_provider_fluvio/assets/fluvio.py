"""Fluvio topics as Airflow assets: the URI handler, the factory, the OpenLineage converter, the helper.

The URIs (``fluvio://HOST:PORT/TOPIC``, ``fluvio+embedded://localhost/TOPIC``) and their rule are
``assets/uris.py``'s; this module gives them to Airflow.

``fluvio_topic_asset("orders")`` builds the asset for DAG files without looking anything up: the
topic lives in the cluster named by ``endpoint=``, else in ``FLUVIO_ENDPOINT`` of the environment
(the same variable the hook falls back on), else in the embedded log. With ``fluvio_conn_id=`` it
reads that connection (when the DAG file is parsed) and names the cluster the hook would use. Hooks
report lineage with the same URIs (``assets/lineage.py``), built from the connection they actually
use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_provider_fluvio.assets.uris import (
    EMBEDDED_SCHEME,
    ENDPOINT_ENV,
    SCHEME,
    openlineage_identity,
    sanitize_uri,
    settings_topic_uri,
    topic_uri,
)

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetWatcher


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
