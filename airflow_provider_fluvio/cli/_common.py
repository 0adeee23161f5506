"""What every command shares: one-line errors with exit codes, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from fluvio_connectors.errors import FluvioConnectorError

OUTPUT_FORMATS = click.Choice(["table", "json"])


def run_cli(group: click.Group, argv: list[str] | None = None) -> int:
    """Run ``group``; map errors to exit codes and one line on stderr."""
    try:
        rc = group.main(args=argv, prog_name="fluvio-connector", standalone_mode=False)
    except FluvioConnectorError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (try '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 1
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    return rc if isinstance(rc, int) else 0


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, sort_keys=False, default=str))
