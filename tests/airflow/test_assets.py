"""Topics as Airflow assets: the URIs Airflow stores, the helper for DAG files, OpenLineage datasets,
and the lineage the hook and the create operator report to Airflow's hook-lineage collector."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.sdk.lineage import HookLineageCollector

from airflow_provider_fluvio.assets.fluvio import (
    convert_asset_to_openlineage,
    create_asset,
    fluvio_topic_asset,
    openlineage_identity,
)
from airflow_provider_fluvio.assets.targets import http_endpoint_uri
from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.triggers.records import fluvio_topic_watcher


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("fluvio://SC.Example.com/orders", "fluvio://sc.example.com:9003/orders"),
        ("fluvio://sc.example.com:9003/orders/", "fluvio://sc.example.com:9003/orders"),
        ("FLUVIO://10.0.0.7:9103/orders#fragment", "fluvio://10.0.0.7:9103/orders"),
        ("fluvio://[::1]/orders", "fluvio://[::1]:9003/orders"),
        ("fluvio://[FD00::7]:9103/orders", "fluvio://[fd00::7]:9103/orders"),
        ("fluvio+embedded:///orders", "fluvio+embedded://localhost/orders"),
        ("fluvio+embedded://localhost/orders", "fluvio+embedded://localhost/orders"),
    ],
)
def test_airflow_normalises_fluvio_uris(written: str, stored: str) -> None:
    assert Asset(uri=written).uri == stored


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("fluvio://sc.example.com", "fluvio:// asset URI must name a topic"),
        ("fluvio://sc.example.com/a/b", "'a/b' in a fluvio:// asset URI is not a topic name"),
        ("fluvio://sc.example.com/Orders", "'Orders' in a fluvio:// asset URI is not a topic name"),
        ("fluvio:///orders", "a fluvio:// asset URI must name the Fluvio SC host"),
        ("fluvio://user@sc/orders", "a fluvio:// asset URI must not carry credentials"),
        ("fluvio://sc:99999/orders", "'sc:99999' is not a valid Fluvio SC address"),
        ("fluvio://sc/orders?partition=1", "a fluvio:// asset URI takes no query"),
        ("fluvio+embedded://sc.example.com/orders", "the embedded log is local to one machine"),
    ],
)
def test_airflow_refuses_what_is_not_a_topic(written: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        Asset(uri=written)
    assert message in str(raised.value)


def test_the_helper_needs_no_lookup_and_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUVIO_ENDPOINT", raising=False)
    assert fluvio_topic_asset("orders").uri == "fluvio+embedded://localhost/orders"
    assert fluvio_topic_asset("orders", endpoint="SC:9004").uri == "fluvio://sc:9004/orders"
    monkeypatch.setenv("FLUVIO_ENDPOINT", "fluvio.internal:9003")
    asset = fluvio_topic_asset("orders", group="streams", extra={"team": "ops"})
    assert (asset.uri, asset.name, asset.group, asset.extra) == (
        "fluvio://fluvio.internal:9003/orders", "fluvio://fluvio.internal:9003/orders", "streams", {"team": "ops"},
    )
    watched = fluvio_topic_asset("orders", watchers=[fluvio_topic_watcher("orders", consumer="dag")])
    assert [w.trigger.consumer for w in watched.watchers] == ["dag"]


def test_the_helper_names_the_cluster_of_a_connection(set_connection: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUVIO_ENDPOINT", "elsewhere:9003")  # a connection with a host beats the environment
    set_connection("streams", conn_type="fluvio", host="SC.Example.com", port=9103)
    asset = fluvio_topic_asset("orders", fluvio_conn_id="streams")
    assert asset.uri == "fluvio://sc.example.com:9103/orders"
    assert asset.uri == FluvioHook(fluvio_conn_id="streams").topic_asset_uri("orders")  # what lineage reports


def test_the_helper_without_a_default_connection_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_FLUVIO_DEFAULT", raising=False)
    monkeypatch.setenv("FLUVIO_ENDPOINT", "fluvio.internal")
    assert fluvio_topic_asset("orders", fluvio_conn_id="fluvio_default").uri == "fluvio://fluvio.internal:9003/orders"
    monkeypatch.delenv("FLUVIO_ENDPOINT")
    assert fluvio_topic_asset("orders", fluvio_conn_id="fluvio_default").uri == "fluvio+embedded://localhost/orders"


def test_the_helper_refuses_what_names_no_cluster(set_connection: Any) -> None:
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    set_connection("profile", conn_type="fluvio", extra={"use_fluvio_profile": True})
    with pytest.raises(ValueError, match=r"^connection profile names no Fluvio cluster address .*pass endpoint="):
        fluvio_topic_asset("orders", fluvio_conn_id="profile")
    set_connection("badport", conn_type="fluvio", host="sc", port=70000)
    with pytest.raises(ValueError, match=r"fluvio_conn_id='badport'\): connection badport: port must be between"):
        fluvio_topic_asset("orders", fluvio_conn_id="badport")
    with pytest.raises(ValueError, match="takes endpoint or fluvio_conn_id, not both"):
        fluvio_topic_asset("orders", endpoint="sc:9003", fluvio_conn_id="profile")
    with pytest.raises(ValueError, match="'Orders' in a fluvio\\+embedded:// asset URI is not a topic name"):
        fluvio_topic_asset("Orders", fluvio_conn_id="profile")
    with pytest.raises(AirflowNotFoundException):  # a misspelt id fails loudly, as in the hook
        fluvio_topic_asset("orders", fluvio_conn_id="no_such_connection")


def test_the_factory_and_the_openlineage_dataset() -> None:
    assert create_asset(topic="orders", endpoint="sc:9003", extra={"a": 1}) == Asset(
        uri="fluvio://sc:9003/orders", extra={"a": 1}
    )
    assert openlineage_identity("fluvio://sc.example.com:9003/orders") == ("fluvio://sc.example.com:9003", "orders")
    assert openlineage_identity("fluvio+embedded://localhost/orders") == ("fluvio+embedded://localhost", "orders")
    dataset = convert_asset_to_openlineage(Asset(uri="fluvio://sc/orders"), None)
    assert (dataset.namespace, dataset.name) == ("fluvio://sc:9003", "orders")


def test_airflow_registers_the_uri_handlers_from_the_provider_info() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()  # what tasks and DAG parsing use
    for scheme in ("fluvio", "fluvio+embedded"):
        assert manager.asset_uri_handlers[scheme].__name__ == "sanitize_uri"
        assert manager.asset_factories[scheme].__name__ == "create_asset"
        assert manager.asset_to_openlineage_converters[scheme].__name__ == "convert_asset_to_openlineage"


# -- hook lineage ------------------------------------------------------------------------------


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[HookLineageCollector]:
    """Airflow's real collector, as a hook-lineage reader plugin (e.g. OpenLineage) would enable it."""
    real = HookLineageCollector()
    monkeypatch.setattr("airflow.sdk.lineage.get_hook_lineage_collector", lambda: real)
    yield real


def _lineage(collector: HookLineageCollector) -> tuple[list[str], list[str]]:
    collected = collector.collected_assets
    return [i.asset.uri for i in collected.inputs], [o.asset.uri for o in collected.outputs]


def test_produce_and_read_report_the_topic(collector: HookLineageCollector) -> None:
    hook = FluvioHook()
    hook.produce("orders", ["a", "b"], create_topic=True)
    assert [r.value_text() for r in hook.read_records("orders")] == ["a", "b"]
    assert hook.wait_for_records("orders", 2, timeout=5) and True
    assert _lineage(collector) == (["fluvio+embedded://localhost/orders"], ["fluvio+embedded://localhost/orders"])
    (output,) = collector.collected_assets.outputs
    assert output.context is hook and output.count == 1


def test_a_cluster_connection_reports_the_cluster_topic(collector: HookLineageCollector) -> None:
    hook = FluvioHook(host="SC.Example.com")
    assert hook.topic_asset_uri("orders") == "fluvio://sc.example.com:9003/orders"
    assert FluvioHook(use_fluvio_profile=True).topic_asset_uri("orders") is None  # address not known


def test_creating_an_mqtt_connector_reports_broker_filters_to_topic(
    collector: HookLineageCollector, scripted_runtime: Any
) -> None:
    scripted_runtime()
    config = {
        "version": "v1", "name": "lineage-mqtt", "type": "mqtt", "topic": "vehicles", "create_topic": True,
        "parameters": {"mqtt-url": "mqtts://reader:s3cret@Broker.Example.com", "mqtt-topic": ["/hfp/v2/#", "cars/+/pos"]},
    }
    FluvioHook().create_connector(config)
    inputs, outputs = _lineage(collector)
    # "/hfp/v2/#" starts with an empty level, hence the double slash; "#" and "+" are escaped.
    assert inputs == ["mqtts://broker.example.com:8883//hfp/v2/%23", "mqtts://broker.example.com:8883/cars/%2B/pos"]
    assert outputs == ["fluvio+embedded://localhost/vehicles"]
    assert "s3cret" not in repr(collector.collected_assets)


def test_creating_a_test_connector_reports_its_topic_only(collector: HookLineageCollector, scripted_runtime: Any, seed_config: dict[str, Any]) -> None:
    scripted_runtime()
    FluvioHook().create_connector(seed_config)
    assert _lineage(collector) == ([], ["fluvio+embedded://localhost/hook-topic"])


def test_without_a_lineage_reader_nothing_is_collected_and_nothing_fails() -> None:
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    assert FluvioHook().produce("orders", ["a"], create_topic=True) == 1
    assert not get_hook_lineage_collector().has_collected  # Airflow's no-op collector: no reader installed


# -- sinks: the topic in, the target out ---------------------------------------------------------


def sql_sink_config(url: str, table: str | None = "readings") -> dict[str, Any]:
    params: dict[str, Any] = {"url": url}
    if table:
        params["mapping"] = {"table": table, "map-columns": {"id": {"json-key": "id", "value": {"type": "int"}}}}
    return {"name": "lineage-sink", "type": "sql-sink", "topic": "readings", "create_topic": True, "parameters": params}


@pytest.mark.parametrize(
    ("url", "table", "output"),
    [
        ("postgresql://fluvio:pa55word@DB.example.com:5433/telemetry", "readings",
         "postgres://db.example.com:5433/telemetry/public/readings"),
        ("postgres://fluvio:pa55word@db.example.com/telemetry", "analytics.readings",
         "postgres://db.example.com:5432/telemetry/analytics/readings"),
        ("postgresql://fluvio:pa55word@[::1]:5432/telemetry?options=-csearch_path%3D%22%24user%22,ingest", "readings",
         "postgres://[::1]:5432/telemetry/ingest/readings"),
        ("postgresql://fluvio@/telemetry", "readings", "postgres://localhost:5432/telemetry/public/readings"),
        ("sqlite:///var/lib/airflow/readings.db", "readings", "sqlite://localhost/var/lib/airflow/readings.db/readings"),
    ],
    ids=["postgres", "schema-in-table", "search-path", "unix-socket", "sqlite"],
)
def test_creating_a_sql_sink_reports_topic_to_table(
    collector: HookLineageCollector, scripted_runtime: Any, url: str, table: str, output: str
) -> None:
    scripted_runtime()
    FluvioHook().create_connector(sql_sink_config("${{ secrets.SQL_URL }}", table), secrets={"SQL_URL": url})
    assert _lineage(collector) == (["fluvio+embedded://localhost/readings"], [output])
    assert "pa55word" not in repr(collector.collected_assets)


def test_the_table_uri_is_the_postgres_providers() -> None:
    """The URI a sink reports is one Airflow's Postgres provider takes as it is (its handler)."""
    from urllib.parse import urlsplit

    from airflow.providers.postgres.assets.postgres import sanitize_uri as postgres_sanitize

    uri = "postgres://db.example.com:5432/telemetry/public/readings"
    assert postgres_sanitize(urlsplit(uri)).geturl() == uri
    assert Asset(uri=uri).uri == uri  # Airflow's normalisation (the provider is installed) keeps it


@pytest.mark.parametrize(
    ("config", "outputs"),
    [
        (sql_sink_config("sqlite://relative/readings.db"), []),  # relative to wherever the sink runs
        (sql_sink_config("sqlite:///tmp/readings.db", table=None), []),  # records name their tables
        ({"name": "lineage-http", "type": "http-sink", "topic": "readings", "create_topic": True,
          "parameters": {"endpoint": "https://user:pw@API.example.com:8443/ingest?token=t0k#x"}},
         ["https://api.example.com:8443/ingest"]),
    ],
    ids=["sqlite-relative", "no-mapping", "http"],
)
def test_sink_outputs_that_cannot_or_must_not_be_named(
    collector: HookLineageCollector, scripted_runtime: Any, config: dict[str, Any], outputs: list[str]
) -> None:
    scripted_runtime()
    FluvioHook().create_connector(config)
    assert _lineage(collector) == (["fluvio+embedded://localhost/readings"], outputs)
    assert "t0k" not in repr(collector.collected_assets) and ":pw@" not in repr(collector.collected_assets)


def test_an_http_sinks_endpoint_without_credentials_query_or_fragment() -> None:
    assert http_endpoint_uri("https://user:pw@API.example.com:8443/ingest?token=t0k#x") == "https://api.example.com:8443/ingest"
    assert http_endpoint_uri("http://[::1]/") == "http://[::1]/"
    assert http_endpoint_uri("ftp://example.com/x") is None
