"""``create``, ``list``, ``delete``, ``status`` and ``logs``: the seed's connector commands.

Every command takes ``--runtime local|kubernetes`` (default ``$FLUVIO_CONNECTORS_RUNTIME``, else
``local``) and, for Kubernetes, ``--namespace``, ``--kubeconfig``, ``--context``, ``--in-cluster``,
``--registry`` and ``--host-network``. The runtime does the work; these commands only print.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from airflow_provider_fluvio.cli._common import OUTPUT_FORMATS, SECONDS, connector_names, echo_json, one_stdin
from airflow_provider_fluvio.pending import DEFAULT_PENDING_TIMEOUT
from airflow_provider_fluvio.runtimes import (
    RUNTIMES,
    ConnectorInfo,
    ConnectorRuntime,
    ConnectorStatus,
    get_runtime,
)
from airflow_provider_fluvio.waiting import judge, wait_for
from fluvio_connectors.config import load_config, read_secrets_file
from fluvio_connectors.errors import FluvioConnectorError
from fluvio_connectors.replicas import MAX_REPLICAS, check_replicas
from fluvio_connectors.settings import RUNTIME_ENV, Settings, runtime_kind

F = TypeVar("F", bound=Callable[..., Any])

KUBERNETES_OPTIONS = {
    # CLI option name -> KubernetesRuntime keyword
    "namespace": "namespace",
    "kubeconfig": "kube_config_path",
    "context": "cluster_context",
    "in_cluster": "in_cluster",
    "registry": "registry",
    "host_network": "host_network",
}


def runtime_options(command: F) -> F:
    """The options that choose where connectors run, on every connector command."""
    options = [
        click.option("--runtime", type=click.Choice(RUNTIMES), default=None,
                     help="Where connectors run (default: $FLUVIO_CONNECTORS_RUNTIME, else local)."),
        click.option("--namespace", default=None, envvar="FLUVIO_CONNECTORS_NAMESPACE", metavar="NAMESPACE",
                     help="kubernetes: namespace (default: $FLUVIO_CONNECTORS_NAMESPACE, else default)."),
        click.option("--kubeconfig", default=None, metavar="FILE",
                     help="kubernetes: kube config file (default: $KUBECONFIG, else ~/.kube/config)."),
        click.option("--context", default=None, metavar="CONTEXT", help="kubernetes: kube config context."),
        click.option("--in-cluster", is_flag=True, default=False,
                     help="kubernetes: use the service account of the pod this runs in."),
        click.option("--registry", default=None, envvar="FLUVIO_CONNECTORS_REGISTRY", metavar="REGISTRY",
                     help="kubernetes: image registry, e.g. docker.io/myorg (default: $FLUVIO_CONNECTORS_REGISTRY)."),
        click.option("--host-network", is_flag=True, default=False,
                     help="kubernetes: run the connector pods on their node's network (hostNetwork)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def open_runtime(params: dict[str, Any]) -> Iterator[ConnectorRuntime]:
    """The runtime the options name; Kubernetes options given on the command line with the local
    runtime are a usage error rather than silently ignored."""
    ctx = click.get_current_context()
    kind = runtime_kind(params.pop("runtime", None) or Settings.from_env().runtime, f"{RUNTIME_ENV}: ")
    kube = {KUBERNETES_OPTIONS[k]: params.pop(k) for k in KUBERNETES_OPTIONS}
    if kind == "kubernetes":
        options = {k: v for k, v in kube.items() if v}
    else:
        given = [k for k in KUBERNETES_OPTIONS if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE]
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            verb = "applies" if len(given) == 1 else "apply"
            raise click.UsageError(f"{names} only {verb} to --runtime kubernetes (the runtime is {kind})")
        options = {}
    runtime = get_runtime(kind, **options)
    try:
        yield runtime
    finally:
        runtime.close()


def with_runtime(command: Callable[..., None]) -> Callable[..., None]:
    """Pass ``runtime=`` (opened from the runtime options) instead of the options themselves."""

    @functools.wraps(command)
    def wrapper(**params: Any) -> None:
        with open_runtime(params) as runtime:
            command(runtime=runtime, **params)

    return wrapper


# --------------------------------------------------------------------------- create


@click.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), metavar="FILE",
              help="Connector config YAML file (at most 1 MiB; - reads standard input).")
@click.option("--secrets", "secrets_path", default=None, type=click.Path(path_type=Path), metavar="FILE",
              help="NAME=VALUE secrets file, dotenv style (default: secrets from the environment).")
@click.option("--wait", "wait_seconds", type=SECONDS, default=None, metavar="SECONDS",
              help="Wait up to SECONDS until the connector is Running; exit 1 if it fails or times out "
                   "(the connector stays: delete it if it is not wanted).")
@click.option("--pending-timeout", type=SECONDS, default=DEFAULT_PENDING_TIMEOUT,
              metavar="SECONDS",
              help="With --wait: give up sooner once the connector has been Pending this long without a "
                   f"break, e.g. because it cannot reach its source (it keeps retrying); default: "
                   f"{DEFAULT_PENDING_TIMEOUT:g}.")
@click.option("--replicas", type=int, default=1, show_default=True, metavar="N",
              help=f"Instances that split the source between them (1 to {MAX_REPLICAS}; MQTT: through MQTT 5 "
                   "shared subscriptions). A test-connector runs as one.")
@runtime_options
@with_runtime
def create(runtime: ConnectorRuntime, config_path: Path, secrets_path: Path | None,
           wait_seconds: float | None, pending_timeout: float, replicas: int) -> None:
    """Create a connector from a config file (the topic is created if create_topic is true)."""
    replicas = check_replicas(replicas, "--replicas")
    one_stdin(config_path, secrets_path)
    secrets = read_secrets_file(secrets_path) if secrets_path else None
    config = load_config(config_path, secrets=secrets)
    runtime.create(config, replicas=replicas)
    click.echo(f'connector "{config.name}" created' + (f" with {replicas} replicas" if replicas > 1 else ""))
    if wait_seconds is not None:
        info = wait_until_started(runtime, config.name, wait_seconds, pending_timeout)
        click.echo(f'connector "{config.name}" is {info.status.value}')


def wait_until_started(runtime: ConnectorRuntime, name: str, timeout: float,
                       pending_timeout: float | None = None) -> ConnectorInfo:
    """Poll until Running (or Stopped: it already finished). Failed, the deadline, or Pending for
    ``pending_timeout`` is an error that says the connector is still there (``waiting.py`` judges)."""
    still_there = f"; the connector is still there: fluvio-connector delete {name} removes it"
    check = wait_for(lambda: judge(runtime.status(name), pending_timeout=pending_timeout), timeout, 0.1)
    assert check.info is not None  # judged a status: a missing connector raised
    if check.outcome == "reached":
        return check.info
    if check.outcome == "failed":
        raise FluvioConnectorError(f"{check.message}{still_there}")
    why = f" ({check.info.reason})" if check.info.reason else ""
    raise FluvioConnectorError(f"connector {name} is still {check.info.status.value}{why} after {timeout:g}s{still_there}")


# --------------------------------------------------------------------------- list / status


@click.command("list")
@click.option("-O", "--output", type=OUTPUT_FORMATS, default="table", help="Output format.")
@runtime_options
@with_runtime
def list_connectors(runtime: ConnectorRuntime, output: str) -> None:
    """List the connectors and their status."""
    infos = runtime.list()
    if output == "json":
        echo_json([info.to_dict() for info in infos])
        return
    if not infos:
        click.echo("no connectors")
        return
    # RECORDS: produced by a source, delivered by a sink; LAG: records in a sink's topic after its
    # position; REASON: why it is not Running, else a sink's last error (a failure it retried).
    rows = [("NAME", "STATUS", "TYPE", "DIRECTION", "TOPIC", "REPLICAS", "RESTARTS", "RECORDS", "LAG", "REASON")]
    rows += [(i.name, i.status.value, i.type, i.direction, i.topic, _replicas(i), str(i.restarts), _number(i.records),
              _number(i.lag), i.reason or (f"last error: {i.last_error}" if i.direction == "sink" and i.last_error else ""))
             for i in infos]
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo((" " + "  ".join([*cells, row[-1]])).rstrip())



def _records(info: ConnectorInfo) -> str | None:
    """``20``, or ``12 of 20`` for a connector that produces a known number of records."""
    if info.records is None:
        return None
    return f"{info.records} of {info.records_target}" if info.records_target else str(info.records)

@click.command()
@click.argument("name", callback=connector_names)
@click.option("-O", "--output", type=OUTPUT_FORMATS, default="table", help="Output format.")
@runtime_options
@with_runtime
def status(runtime: ConnectorRuntime, name: str, output: str) -> None:
    """Show one connector's status."""
    info = runtime.status(name)
    if output == "json":
        echo_json(info.to_dict())
        return
    fields = [
        ("name", info.name),
        ("status", info.status.value),
        ("reason", info.reason),
        ("type", info.type),
        ("version", info.version),
        ("topic", info.topic),
        ("runtime", info.runtime),
        ("direction", info.direction),
        ("started at", info.started_at.isoformat(timespec="seconds") if info.started_at else None),
        ("replicas", _replicas(info) + " running" if info.replicas > 1 else None),
        ("restarts", str(info.restarts)),
        ("delivered" if info.direction == "sink" else "records", _records(info)),
        ("position", None if info.position is None else str(info.position)),
        ("lag", None if info.lag is None else str(info.lag)),
        ("last error", info.last_error if info.direction == "sink" else None),
        ("this run", ", ".join(f"{name_} {value}" for name_, value in sorted(info.counters.items())) or None),
    ]
    for label, value in fields:
        if value is not None:
            click.echo(f"{label + ':':<12}{value}")
    for replica in info.replica_statuses:
        why = f" ({replica.reason})" if replica.reason else ""
        click.echo(f"  replica {replica.name}: {replica.status.value}{why}, {replica.restarts} restarts")


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def _replicas(info: ConnectorInfo) -> str:
    """``running/replicas``, e.g. ``2/3``."""
    running = info.replicas_running if info.replicas > 1 else int(info.status == ConnectorStatus.RUNNING)
    return f"{running}/{info.replicas}"


# --------------------------------------------------------------------------- delete


@click.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...", callback=connector_names)
@runtime_options
@with_runtime
def delete(runtime: ConnectorRuntime, names: tuple[str, ...]) -> None:
    """Delete connectors (their topics and records stay). Continues past a missing name; exits 1
    if any could not be deleted."""
    failed: list[FluvioConnectorError] = []
    for name in names:
        try:
            runtime.delete(name)
        except FluvioConnectorError as exc:
            if len(names) == 1:
                raise  # one name: its error is the one line
            click.echo(f"error: {exc}", err=True)
            failed.append(exc)
            continue
        click.echo(f'connector "{name}" deleted')
    if failed:
        summary = FluvioConnectorError(f"{len(failed)} of {len(names)} connectors not deleted")
        summary.exit_code = max(exc.exit_code for exc in failed)
        raise summary


# --------------------------------------------------------------------------- logs


@click.command()
@click.argument("name", callback=connector_names)
@click.option("--tail", type=click.IntRange(min=0), default=None, metavar="N",
              help="Only the last N lines (default: the whole log; with -f the last 10).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the connector exits.")
@click.option("--replica", default=None, metavar="REPLICA",
              help="Only this replica's log (local: 0, 1, ...; kubernetes: a pod name). Default: every "
                   "replica's lines, each marked with its replica, in time order (kubernetes -f: the newest pod).")
@runtime_options
@with_runtime
def logs(runtime: ConnectorRuntime, name: str, tail: int | None, follow: bool, replica: str | None) -> None:
    """Print a connector's log."""
    if follow:
        for line in runtime.follow_logs(name, tail=10 if tail is None else tail, replica=replica):
            click.echo(line)
        return
    for line in runtime.logs(name, tail=tail, replica=replica):
        click.echo(line)


def register(cli: click.Group) -> None:
    """Add the connector commands to the ``fluvio-connector`` group."""
    for command in (create, list_connectors, delete, status, logs):
        cli.add_command(command)
