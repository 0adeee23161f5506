"""Records that start DAG runs: a DAG scheduled on a Fluvio topic, one asset event per record.

example_fluvio_orders_events    scheduled on the topic ``example-orders``; its watcher (a
                                FluvioRecordTrigger in the triggerer) turns every new record into an
                                asset event, and ``process_orders`` handles the records of the run
example_fluvio_orders_producer  writes ``count`` orders to the topic; the topic is its outlet, so
                                the asset graph shows it as the topic's producer

Unpause ``example_fluvio_orders_events`` first: its watcher starts then, and reads the records
written from that moment on (named consumer ``example-orders-events``; its position survives
triggerer restarts, ``fluvio-connector consumer list`` shows it). Any other writer works as well:
``printf '{"order": 1}\\n' | fluvio-connector produce example-orders``.

On Airflow 3.3 the consumer's position is committed only once Airflow has stored the events, so a
killed triggerer loses no record; one may come twice, which is why ``process_orders`` keys its work
by offset. Airflow folds events that arrive close together into one run. The producer's own outlet
event also lands in the events DAG, without a record: ``record_payloads`` leaves it out.

``requeue_leftovers``: Airflow 3.3.2 starts a run for the first event of a burst and leaves the
burst's later events queued until another event arrives, however long that takes
(https://github.com/apache/airflow/issues/56050: the queue entry keeps the time of its first event,
and the run takes only events up to it). No scheduling setting avoids it (``max_active_runs`` 1 or
16, ``catchup``). So when the topic holds records after the last one a run processed, the run ends
by announcing the topic again (its own event on ``ORDERS``, without a record), and the next run
takes the queued events: every record is processed without waiting for another one. Where nothing
is left the task is skipped and announces nothing. Drop it on an Airflow that fixed the issue.

Parsing this file looks nothing up: the asset is the embedded log's topic (``FLUVIO_ENDPOINT`` in
the environment, or ``endpoint=``, names a cluster instead).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_fluvio.assets.fluvio import fluvio_topic_asset
from airflow_provider_fluvio.operators.connector import FluvioProduceOperator
from airflow_provider_fluvio.triggers.records import fluvio_topic_watcher

TOPIC = "example-orders"
ORDERS = fluvio_topic_asset(TOPIC, watchers=[fluvio_topic_watcher(TOPIC, consumer="example-orders-events")])

with DAG(
    dag_id="example_fluvio_orders_events",
    description="Runs for new records of the Fluvio topic example-orders (an asset watcher).",
    schedule=[ORDERS],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "fluvio", "events"],
) as events_dag:

    @task
    def process_orders(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One result per record of this run: its offset, size and content hash (a value too large
        for the event is read from the topic)."""
        from airflow_provider_fluvio.assets.events import record_payloads, record_value

        done = []
        for payload in record_payloads(triggering_asset_events):
            value = record_value(payload)
            done.append({
                "offset": payload["offset"],
                "size": len(value),
                "sha256": hashlib.sha256(value).hexdigest(),
                "text": value[:64].decode("utf-8", errors="replace"),
                "from_topic": payload["value_encoding"] == "omitted",
            })
        print(f"processed {len(done)} record(s): offsets {[d['offset'] for d in done]}")
        return done

    @task(outlets=[ORDERS])
    def requeue_leftovers(triggering_asset_events: Any = None) -> int:
        """Announce the topic again when it holds records after this run's last one (see the
        module docstring: apache/airflow#56050); skipped, announcing nothing, otherwise."""
        from airflow.sdk.exceptions import AirflowSkipException

        from airflow_provider_fluvio.assets.events import record_payloads, records_after

        left = records_after(record_payloads(triggering_asset_events))
        if not left:
            raise AirflowSkipException("no record after this run's last one")
        print(f"{left} record(s) after this run's last one: the next run takes their queued events")
        return left

    process_orders() >> requeue_leftovers()


with DAG(
    dag_id="example_fluvio_orders_producer",
    description="Writes orders to the Fluvio topic example-orders (its producer in the asset graph).",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"count": Param(5, type="integer", minimum=1, maximum=10_000, description="Orders to write.")},
    tags=["example", "fluvio", "events"],
) as producer_dag:
    FluvioProduceOperator(
        task_id="produce_orders",
        topic=TOPIC,
        create_topic=True,
        records='{% for i in range(params.count) %}{"order": {{ i }}, "run": "{{ run_id }}"}\n{% endfor %}',
        outlets=[ORDERS],
    )


if __name__ == "__main__":
    producer_dag.test()
