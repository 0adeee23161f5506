"""``validate`` and ``catalog``: check a config, describe the connector types."""

from __future__ import annotations

import json

import click

from airflow_provider_fluvio.cli._common import echo_json
from fluvio_connectors.catalog import all_types, get_type
from fluvio_connectors.config import config_summary, load_config, read_secrets_file


@click.command()
@click.option("--config", "-c", "config_path", required=True, help="Connector config YAML file.")
@click.option("--secrets", "secrets_path", default=None, help="NAME=VALUE secrets file (default: environment).")
def validate(config_path: str, secrets_path: str | None) -> None:
    """Validate a connector config without creating anything."""
    secrets = read_secrets_file(secrets_path) if secrets_path else None
    config = load_config(config_path, secrets=secrets)
    click.echo(f"ok: {config_summary(config)}")


@click.command()
@click.option("--type", "type_name", default=None, help="Print this type's parameter schema.")
@click.option("-O", "--output", type=click.Choice(["table", "json"]), default="table")
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
