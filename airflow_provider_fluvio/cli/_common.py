"""What every command shares: one-line errors with exit codes, JSON output, argument types."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import click

from fluvio_connectors.durations import MAX_DURATION
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.messages import one_line
from fluvio_connectors.names import check_connector_name

OUTPUT_FORMATS = click.Choice(["table", "json"])


class _ReaderGone(Exception):
    """stdout's reader closed the pipe (``| head -1``)."""


class CliGroup(click.Group):
    """The top-level group: a closed stdout ends the command quietly (click would exit 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _ReaderGone from None


def run_cli(group: click.Group, argv: list[str] | None = None) -> int:
    """Run ``group``; map errors to exit codes and one bounded line on stderr."""
    try:
        rc = group.main(args=argv, prog_name="fluvio-connector", standalone_mode=False)
    except FluvioConnectorError as exc:
        _error(str(exc))
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (try '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _error(exc.format_message() + hint)
        return 2
    except click.ClickException as exc:
        _error(exc.format_message())
        return 1
    except (_ReaderGone, BrokenPipeError):
        # The reader went away (`| head -1`): that is how a pipe ends, not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not fail on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # the machine refused something (a full disk, a dead terminal)
        _error(f"{exc.strerror or type(exc).__name__}{f': {exc.filename}' if exc.filename else ''}")
        return 1
    return rc if isinstance(rc, int) else 0


def _error(message: str) -> None:
    click.echo(f"error: {one_line(message)}", err=True)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, sort_keys=False, default=str))


def connector_names(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Callback of a NAME argument: each name is a connector name before anything uses it."""
    for name in value if isinstance(value, tuple) else (value,):
        try:
            check_connector_name(name)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


class Seconds(click.ParamType):
    """A finite number of seconds from 0 to 365 days (``inf`` and ``nan`` are not waits)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float | int) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value))
            except ValueError:
                self.fail(f"{str(value)[:40]!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or not 0 <= number <= MAX_DURATION.total_seconds():
            self.fail(f"expected a number of seconds from 0 to {MAX_DURATION.total_seconds():g}", param, ctx)
        return number


SECONDS = Seconds()


def one_stdin(*paths: Any) -> None:
    """At most one file argument may be ``-`` (standard input)."""
    if sum(1 for path in paths if path is not None and os.fspath(path) == "-") > 1:
        raise click.UsageError("only one of --config and --secrets can be - (standard input)")
