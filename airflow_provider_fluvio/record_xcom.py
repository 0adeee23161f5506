"""Records as XCom values: lossless, and bounded in size (what ``FluvioConsumeOperator`` returns).

``output_format="records"``: a dict per record, its key and value as text when they are UTF-8, else
base64, each with its encoding (``utf-8`` or ``base64``), as the record trigger's event payload
does. ``output_format="values"``: the values as text; a value that is not UTF-8 is an error
(``decode_errors="strict"``, the default: nothing is committed) unless ``decode_errors="replace"``
asks for U+FFFD in its place. The whole result, as JSON, may hold at most ``max_bytes``: a result
over it is an error before anything is committed (one 20 MB record made a 125 MB XCom row).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_fluvio.triggers.record_payload import encode_bytes
from fluvio_connectors.errors import ConfigError

if TYPE_CHECKING:
    from fluvio_connectors.topics import Record


def record_dict(record: Record) -> dict[str, Any]:
    """``offset``, ``key``/``key_encoding``, ``value``/``value_encoding``, ``timestamp``: lossless."""
    key, key_encoding = encode_bytes(record.key)
    value, value_encoding = encode_bytes(record.value)
    return {"offset": record.offset, "key": key, "key_encoding": key_encoding, "value": value,
            "value_encoding": value_encoding, "timestamp": record.timestamp}


def records_for_xcom(records: Sequence[Record], output_format: str, decode_errors: str, max_bytes: int,
                     topic: str) -> list[Any]:
    """What the consume operator returns for ``records`` (see the module docstring); ``ConfigError``
    saying what to change when a value is not text or the result is too large."""
    if output_format == "records":
        result: list[Any] = [record_dict(r) for r in records]
    else:
        result = []
        for record in records:
            try:
                result.append(record.value.decode("utf-8", errors=decode_errors))
            except UnicodeDecodeError:
                raise ConfigError(
                    f"topic {topic}: the value at offset {record.offset} is not UTF-8 text; use "
                    'output_format="records" (such values as base64, lossless) or decode_errors="replace" '
                    "(U+FFFD in their place); nothing was committed"
                ) from None
    size = len(json.dumps(result).encode("utf-8"))
    if size > max_bytes:
        raise ConfigError(
            f"topic {topic}: {len(records)} record(s) from offset {records[0].offset} make {size} bytes of XCom, "
            f"over max_xcom_bytes ({max_bytes}); read fewer at a time (max_records, count) or raise "
            "max_xcom_bytes; nothing was committed"
        )
    return result


__all__ = ["record_dict", "records_for_xcom"]
