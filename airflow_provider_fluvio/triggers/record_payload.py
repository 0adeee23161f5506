"""What one record becomes in an Airflow event, and the optional record filter.

The payload (Airflow keeps it in the asset event's ``extra["payload"]``) is small JSON::

    {"topic": "orders", "partition": 0, "offset": 41, "timestamp": 1767000000.123,
     "key": null, "key_encoding": null,
     "value": "{\"id\": 7}", "value_encoding": "utf-8", "value_size": 9}

``value`` (and ``key``) is the text when the bytes are UTF-8, else base64 with ``value_encoding:
"base64"``. A value larger than ``max_value_bytes`` (default 64 KiB) is left out: ``value`` is
null, ``value_encoding`` is ``"omitted"``, and ``value_size`` tells how large it was; the event
still fires, and the task reads the record itself with ``FluvioHook.read_records(topic, offset,
max_records=1)``. A key over the cap is left out the same way.

The filter is the import path of a function in your own code (``my_pkg.filters.keep_orders``),
called with the payload (plus ``apply_function_args``/``apply_function_kwargs``) in a worker thread
(or awaited, if it is ``async``). It returns None/False to skip the record, True to keep the
payload, or any other JSON value to use as the payload instead. Only the trigger's arguments (the
DAG file) name it, never a connection, and the path must lead to a plain function outside the
Python standard library: ``os.system``, ``builtins.exec`` or a class are refused.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fluvio_connectors.errors import ConfigError

if TYPE_CHECKING:
    from fluvio_connectors.topics import Record

DEFAULT_MAX_VALUE_BYTES = 64 * 1024
_IDENTIFIER_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"


def encode_bytes(data: bytes | None) -> tuple[str | None, str | None]:
    """``(text, encoding)`` of ``data``: its UTF-8 text (``utf-8``), else base64 (``base64``)."""
    if data is None:
        return None, None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def _encode(data: bytes | None, cap: int) -> tuple[str | None, str | None]:
    if data is not None and len(data) > cap:
        return None, "omitted"
    return encode_bytes(data)


def record_payload(topic: str, partition: int, record: Record, max_value_bytes: int) -> dict[str, Any]:
    """The event payload of ``record`` (see the module docstring)."""
    key, key_encoding = _encode(record.key, max_value_bytes)
    value: str | None
    value_encoding: str | None
    if record.value_size is not None:  # the reader left it in the topic: too large for an event
        value, value_encoding = None, "omitted"
    else:
        value, value_encoding = _encode(record.value, max_value_bytes)
    return {
        "topic": topic,
        "partition": partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": key,
        "key_encoding": key_encoding,
        "value": value,
        "value_encoding": value_encoding,
        "value_size": record.size,
    }


def check_filter_path(path: object) -> str:
    """``path`` if it looks like ``package.module.function`` outside the standard library (no import)."""
    import re

    if not isinstance(path, str) or not re.match(_IDENTIFIER_PATH, path):
        raise ConfigError(
            f"apply_function must be the import path of a function, e.g. my_package.filters.keep, got {path!r}"
        )
    top = path.split(".", 1)[0]
    if top in sys.stdlib_module_names or top == "builtins":
        raise ConfigError(
            f"apply_function {path} is in the Python standard library; expected a function of your own code"
        )
    return path


def load_filter(path: str) -> Callable[..., Any]:
    """Import the function at ``path``; ``ConfigError`` (one line) when it is missing or not a function."""
    check_filter_path(path)
    module_name, _, attribute = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"apply_function {path}: cannot import {module_name} ({type(exc).__name__}: {exc})") from None
    function = getattr(module, attribute, None)
    if function is None:
        raise ConfigError(f"apply_function {path}: {module_name} has no attribute {attribute}")
    if not inspect.isfunction(function):
        raise ConfigError(f"apply_function {path} is a {type(function).__name__}, not a function")
    return function


async def apply_filter(
    function: Callable[..., Any], payload: dict[str, Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Any:
    """The event payload ``function`` makes of ``payload``, or None to skip the record."""
    if inspect.iscoroutinefunction(function):
        result = await function(payload, *args, **kwargs)
    else:
        result = await asyncio.to_thread(function, payload, *args, **kwargs)
    if result is None or result is False:
        return None
    if result is True:
        return payload
    json.dumps(result)  # TypeError/ValueError here: the caller reports the filter's bad result
    return result


__all__ = ["DEFAULT_MAX_VALUE_BYTES", "apply_filter", "check_filter_path", "encode_bytes", "load_filter", "record_payload"]
