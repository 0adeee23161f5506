"""Reading records back out of the asset events that started a DAG run.

A DAG scheduled on a watched topic gets ``triggering_asset_events``: for each asset, the events since
its previous run. Those made by ``FluvioRecordTrigger`` carry a record (``extra["payload"]``, see
``triggers/record_payload.py``); others (a producing task's own outlet event, a manual event) do not.
Airflow may fold several events into one run, so a task handles a list, and Airflow hands them over
in no particular order: ``record_payloads`` puts them in topic order. After a triggerer crash a
record can come twice (same topic, partition and offset), so handle records idempotently.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_fluvio.hooks.fluvio import FluvioHook

_PAYLOAD_KEYS = {"topic", "partition", "offset", "value", "value_encoding"}


def record_payloads(triggering_asset_events: Mapping[Any, Iterable[Any]] | None) -> list[dict[str, Any]]:
    """The record payloads among ``triggering_asset_events`` (events without one are left out), in
    topic order: by topic, then partition, then offset (a record that came twice stays twice,
    side by side)."""
    payloads: list[dict[str, Any]] = []
    for events in (triggering_asset_events or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            payload = extra.get("payload") if isinstance(extra, Mapping) else None
            if isinstance(payload, Mapping) and set(payload) >= _PAYLOAD_KEYS:
                payloads.append(dict(payload))
    payloads.sort(key=lambda p: (str(p["topic"]), int(p["partition"]), int(p["offset"])))
    return payloads


def record_value(payload: Mapping[str, Any], hook: FluvioHook | None = None) -> bytes:
    """The record's value as bytes; a value left out of the event (too large) is read from the
    topic through ``hook`` (default: ``FluvioHook()``, the ``fluvio_default`` connection)."""
    encoding = payload["value_encoding"]
    if encoding == "utf-8":
        return str(payload["value"]).encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(payload["value"])
    if encoding != "omitted":
        raise ValueError(f"unknown value_encoding {encoding!r} in a Fluvio record event")
    if hook is None:
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook

        hook = FluvioHook()
    topic, offset = payload["topic"], int(payload["offset"])
    records = hook.read_records(topic, offset, max_records=1)
    if not records or records[0].offset != offset:
        raise LookupError(f"record {topic}@{offset} is no longer in the topic")
    return records[0].value


__all__ = ["record_payloads", "record_value"]
