"""Lineage the hook reports to Airflow's hook-lineage collector (read by OpenLineage and the like).

* producing to a topic: an output asset, the topic;
* reading a topic: an input asset, the topic;
* creating a connector: its source as inputs (an MQTT connector: one ``mqtt://HOST:PORT/FILTER`` per
  topic filter, never credentials) and its topic as the output, so lineage tools draw
  MQTT broker -> connector -> Fluvio topic;
* creating a sink: its topic as the input and its target as the output (a table in the scheme of
  Airflow's Postgres provider, ``postgres://HOST:PORT/DB/SCHEMA/TABLE``, or ``sqlite://localhost/PATH/TABLE``;
  an HTTP endpoint: ``assets/targets.py``), so they draw Fluvio topic -> sink -> table.

Topic URIs are ``assets/uris.py``'s, from where the hook's connection really puts topics. Without
a lineage reader installed Airflow's collector drops everything; reporting never fails a task.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_fluvio.assets.targets import sink_target_uris
from airflow_provider_fluvio.assets.uris import settings_topic_uri
from fluvio_connectors.endpoints import join_host_port

if TYPE_CHECKING:
    from fluvio_connectors.config import ConnectorConfig

log = logging.getLogger(__name__)


def connector_source_uris(config: ConnectorConfig) -> list[str]:
    """Asset URIs of what a connector reads: an MQTT broker's topic filters (no credentials)."""
    if config.type != "mqtt":
        return []
    from fluvio_connectors.catalog import mqtt_url_source, parse_mqtt_url

    url, _ = mqtt_url_source(config.parameters, config.secret_values())
    if not url:
        return []
    broker = parse_mqtt_url(url)
    scheme = "mqtts" if broker.tls else "mqtt"
    filters = getattr(config.parameters, "mqtt_topic", None) or []
    return [f"{scheme}://{join_host_port(broker.host, broker.port)}/{quote(f, safe='/')}" for f in filters]


def connector_lineage(config: ConnectorConfig, topic_uri: str | None) -> tuple[list[str | None], list[str | None]]:
    """``(inputs, outputs)`` of a connector whose topic is ``topic_uri``: a source reads its source
    and writes the topic, a sink reads the topic and writes its target."""
    if config.direction == "sink":
        return [topic_uri], list(sink_target_uris(config))
    return list(connector_source_uris(config)), [topic_uri]


def report(hook: Any, *, inputs: Sequence[str | None] = (), outputs: Sequence[str | None] = ()) -> None:
    """Hand ``inputs`` and ``outputs`` (asset URIs) to Airflow's hook-lineage collector."""
    try:
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

        collector = get_hook_lineage_collector()
        for uri in inputs:
            if uri:
                collector.add_input_asset(context=hook, uri=uri)
        for uri in outputs:
            if uri:
                collector.add_output_asset(context=hook, uri=uri)
    except Exception:  # lineage is a side channel: it never fails the work it describes
        log.debug("could not report lineage %s -> %s", inputs, outputs, exc_info=True)


__all__ = ["connector_lineage", "connector_source_uris", "report", "settings_topic_uri"]
