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


def records_after(payloads: Iterable[Mapping[str, Any]], hook: FluvioHook | None = None) -> int:
    """How many offsets each topic partition of ``payloads`` holds after the last of them, summed:
    records this run did not get (yet). 0 without payloads. Read through ``hook`` (default:
    ``FluvioHook()``). On a Fluvio cluster offsets need not be consecutive, so this may count gaps.

    An event-scheduled DAG re-announces its topic when this is not 0: Airflow 3.3.2 runs a DAG for
    the first event of a burst and leaves the burst's later events queued until another event comes
    (apache/airflow#56050); the DAG's own event is that next event (see the example DAGs)."""
    last: dict[tuple[str, int], int] = {}
    for payload in payloads:
        key = (str(payload["topic"]), int(payload["partition"]))
        last[key] = max(last.get(key, -1), int(payload["offset"]))
    if not last:
        return 0
    if hook is None:
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook

        hook = FluvioHook()
    with hook.topics() as topics:
        return sum(max(0, topics.end_offset(topic, partition) - offset - 1) for (topic, partition), offset in last.items())


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


__all__ = ["record_payloads", "record_value", "records_after"]
