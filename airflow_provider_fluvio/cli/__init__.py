"""``fluvio-connector``: the seed's connector commands (create, list, delete) and more.

Exit codes: 0 ok, 1 an operation failed (not found, exists, backend error), 2 bad usage or bad
config. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys

import click

from airflow_provider_fluvio.cli._common import CliGroup, run_cli
from airflow_provider_fluvio.cli.config_cmds import catalog, validate


@click.group(cls=CliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="airflow-provider-fluvio")
def cli() -> None:
    """Create, list, delete and watch Fluvio connectors; manage topics.

    State lives in $FLUVIO_CONNECTORS_HOME (default ~/.fluvio-connectors): the embedded topic log
    (topics.db) and the local connectors (connectors/NAME/: config without secrets, log, status),
    private to your user. FLUVIO_ENDPOINT=HOST:9003 keeps topics in a Fluvio cluster instead;
    FLUVIO_CONNECTORS_RUNTIME=kubernetes runs connectors as Deployments.

    Exit codes: 0 ok, 1 an operation failed, 2 bad usage or a bad config.
    """


cli.add_command(validate)
cli.add_command(catalog)

try:  # each command family lives in its own module
    from airflow_provider_fluvio.cli.topic_cmds import register as _register_topics

    _register_topics(cli)
except ImportError:  # pragma: no cover - during development only
    pass
try:
    from airflow_provider_fluvio.cli.connector_cmds import register as _register_connectors

    _register_connectors(cli)
except ImportError:  # pragma: no cover
    pass


def main(argv: list[str] | None = None) -> int:
    return run_cli(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
