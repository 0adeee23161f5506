"""Reading the files a user names: a config file and a secrets file, each at most 1 MiB.

A bigger file (``--config /dev/zero``, a 50 MB config) is refused after reading 1 MiB and one
byte, with one line saying so. A secrets file follows the dotenv convention (python-dotenv's own
parser): ``NAME=VALUE``, ``export NAME=VALUE``, values in single or double quotes lose their
quotes (a double-quoted value may span lines and use ``\\n``), ``# comments``. No message ever
repeats a line of a secrets file: it holds secrets.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from typing import Any

from fluvio_connectors.catalog import is_secret_name
from fluvio_connectors.errors import ConfigError, DependencyError

MAX_FILE_BYTES = 1024 * 1024
MAX_FILE_TEXT = "1 MiB"
MAX_ORIGIN_CHARS = 160  # a longer path is shown by its end: the file name is what tells


STDIN = "-"  # a file argument that means standard input


def read_text_file(path: str | os.PathLike[str], what: str) -> str:
    """The UTF-8 text of ``path`` (``what``: "a YAML config file", ...), or one ConfigError line.

    Only a regular file is read (``-``: standard input): a FIFO, a device or a socket is refused
    before anything waits on it (a FIFO nobody writes to would block the reader forever, and an
    Airflow task blocked in that open would not even stop)."""
    if os.fspath(path) == STDIN:
        return _decode(_read_stdin(what), "<stdin>", what)
    origin = str(path) if len(str(path)) <= MAX_ORIGIN_CHARS else "..." + str(path)[-MAX_ORIGIN_CHARS:]
    try:
        # O_NONBLOCK: opening a FIFO for reading never waits for a writer (it is refused below).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError
            if not stat.S_ISREG(mode):
                raise ConfigError(f"{origin}: is a {_kind(mode)}, not a regular file; expected {what}")
            os.set_blocking(fd, True)
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ConfigError(f"{origin}: file not found; expected {what}") from None
    except IsADirectoryError:
        raise ConfigError(f"{origin}: is a directory; expected {what}") from None
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read ({exc.strerror or type(exc).__name__}); expected {what}") from None
    return _decode(raw, origin, what)


def _read_stdin(what: str) -> bytes:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise ConfigError(f"<stdin>: standard input is closed; expected {what} on it")
    try:
        return bytes(stream.read(MAX_FILE_BYTES + 1))
    except OSError as exc:
        raise ConfigError(f"<stdin>: cannot read ({exc.strerror or type(exc).__name__}); expected {what}") from None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _decode(raw: bytes, origin: str, what: str) -> str:
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{origin}: larger than {MAX_FILE_TEXT}; expected {what} of at most {MAX_FILE_TEXT}")
    if b"\x00" in raw:
        raise ConfigError(f"{origin}: binary data; expected {what}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{origin}: not UTF-8 text; expected {what}") from None


# What read_secrets_file uses of python-dotenv's parser (not its public API).
_DOTENV_WANTED = ">=1.0,<2"


def _dotenv_parser() -> Any:
    """``dotenv.parser.parse_stream``; ``DependencyError`` in one line when python-dotenv lacks it
    or the fields its bindings are read by."""
    try:
        from dotenv.parser import Binding, Original, parse_stream
    except ImportError:
        raise DependencyError.missing("python-dotenv", ["dotenv.parser.parse_stream"], "reading a secrets file",
                                      _DOTENV_WANTED) from None
    lacking = [f"Binding.{f}" for f in ("key", "value", "original", "error") if f not in Binding._fields]
    lacking += [f"Original.{f}" for f in ("string", "line") if f not in Original._fields]
    if lacking:
        raise DependencyError.missing("python-dotenv", lacking, "reading a secrets file", _DOTENV_WANTED)
    return parse_stream


def read_secrets_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a dotenv-style ``NAME=VALUE`` secrets file (see the module docstring)."""
    parse_stream = _dotenv_parser()
    text = read_text_file(path, "a NAME=VALUE secrets file")
    origin = str(path) if len(str(path)) <= MAX_ORIGIN_CHARS else "..." + str(path)[-MAX_ORIGIN_CHARS:]
    origin = "<stdin>" if os.fspath(path) == STDIN else origin
    expected = "expected NAME=VALUE with NAME made of letters, digits and _ (a value may be quoted)"
    out: dict[str, str] = {}
    lines: dict[str, int] = {}
    for binding in parse_stream(io.StringIO(text)):
        raw = binding.original.string  # may start with the blank lines before the statement
        line = binding.original.line + raw[: len(raw) - len(raw.lstrip())].count("\n")
        if binding.error:
            raise ConfigError(f"{origin}:{line}: {expected}")
        if binding.key is None:  # a blank line or a comment
            continue
        if binding.value is None or not is_secret_name(binding.key):
            raise ConfigError(f"{origin}:{line}: {expected}")
        if binding.key in out:
            raise ConfigError(f"{origin}:{line}: {binding.key} given twice (first on line {lines[binding.key]})")
        out[binding.key] = binding.value
        lines[binding.key] = line
    return out
