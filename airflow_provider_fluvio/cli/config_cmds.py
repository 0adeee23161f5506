"""``validate`` and ``catalog``: check a config, describe the connector types."""

from __future__ import annotations

import json
from pathlib import Path

import click

from airflow_provider_fluvio.cli._common import echo_json, one_stdin
from fluvio_connectors.catalog import all_types, get_type
from fluvio_connectors.config import config_summary, load_config, read_secrets_file


@click.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), metavar="FILE",
              help="Connector config YAML file (at most 1 MiB; - reads standard input).")
@click.option("--secrets", "secrets_path", default=None, type=click.Path(path_type=Path), metavar="FILE",
              help="NAME=VALUE secrets file, dotenv style (default: secrets from the environment).")
def validate(config_path: Path, secrets_path: Path | None) -> None:
    """Validate a connector config without creating anything."""
    one_stdin(config_path, secrets_path)
    secrets = read_secrets_file(secrets_path) if secrets_path else None
    config = load_config(config_path, secrets=secrets)
    click.echo(f"ok: {config_summary(config)}")


@click.command()
@click.option("--type", "type_name", default=None, metavar="TYPE", help="Print this type's parameter schema.")
@click.option("-O", "--output", type=click.Choice(["table", "json"]), default="table", help="Output format.")
def catalog(type_name: str | None, output: str) -> None:
    """List the connector types, or describe one (--type mqtt)."""
    if type_name:
        described = get_type(type_name).describe()
        if output == "json":
            echo_json(described)
            return
        click.echo(f"{described['type']} ({described['direction']}), image {described['image']}")
        click.echo(described["description"])
        props = described["parameters"].get("properties", {})
        required = set(described["parameters"].get("required", []))
        click.echo("parameters:")
        for key, prop in props.items():
            default = prop.get("default")
            flag = " (required)" if key in required else (f" (default {json.dumps(default)})" if default is not None else "")
            click.echo(f"  {key}{flag}: {prop.get('description', '')}")
        if described["optional_secrets"]:
            click.echo(f"secrets read when set: {', '.join(described['optional_secrets'])}")
        return
    types = [t.describe() for t in all_types()]
    if output == "json":
        echo_json([{k: t[k] for k in ("type", "aliases", "direction", "image", "description")} for t in types])
        return
    click.echo(f"{'TYPE':<16} {'DIRECTION':<10} {'ALIASES':<24} DESCRIPTION")
    for t in types:
        click.echo(f"{t['type']:<16} {t['direction']:<10} {', '.join(t['aliases']):<24} {t['description']}")
