"""Turning an MQTT message into a record value: the Fluvio MQTT connector's format.

The value is compact JSON ``{"mqtt_topic": <topic>, "payload": <payload>}`` (no record key):

- ``binary``: the payload as an array of byte values, ``[104,105]`` for ``b"hi"`` (about 3.6 bytes of
  record a byte of payload). A large payload is written a slice at a time into one growing buffer:
  never a list with an entry per byte of the whole payload, so a 16 MB message costs its record
  (about 58 MB) and a slice, not gigabytes;
- ``json``: the payload parsed as JSON, re-serialised compactly. A payload that is not JSON text
  (not UTF-8, not JSON, or ``NaN``/``Infinity`` which JSON does not have) raises
  ``InvalidJsonPayload``: the connector stores nothing for it, counts it (``invalid_json`` in its
  status) and logs it. Storing something else in its place would put values of another shape into
  a topic whose readers expect JSON, and re-delivering it can never make it valid.
"""

from __future__ import annotations

import io
import json
from typing import Any, Literal

OutputType = Literal["binary", "json"]
OUTPUT_TYPES: tuple[OutputType, ...] = ("binary", "json")

# Byte value -> its decimal text: joining table entries is several times faster than json.dumps
# of a list of ints, and this runs once per message.
_BYTE_TEXT = [str(value) for value in range(256)]
RECORD_PREFIX = b'{"mqtt_topic":'  # how every record value begins
_TOPIC_CACHE_LIMIT = 4096
# Payloads up to this size are joined in one step; larger ones a slice of this many bytes per step.
_SMALL_PAYLOAD = 4096
_SLICE = 1 << 16


class InvalidJsonPayload(ValueError):
    """The payload is not JSON text (``json`` output type)."""


class RecordFormatter:
    """Formats messages of one output type; keeps the JSON form of topics it has seen."""

    def __init__(self, output_type: OutputType = "binary") -> None:
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"payload output type must be binary or json, got {output_type!r}")
        self.output_type: OutputType = output_type
        self._topics: dict[str, bytes] = {}

    def format(self, topic: str, payload: bytes) -> bytes:
        """The record value for a message on ``topic`` with ``payload``."""
        head = self._topics.get(topic)
        if head is None:
            head = self._head(topic)
        if self.output_type == "binary":
            if len(payload) <= _SMALL_PAYLOAD:
                return head + ",".join([_BYTE_TEXT[b] for b in payload]).encode("ascii") + b"]}"
            return _large_binary(head, payload)
        return head + _json_payload(payload) + b"}"

    def _head(self, topic: str) -> bytes:
        opening = RECORD_PREFIX + json.dumps(topic, ensure_ascii=False).encode("utf-8") + b',"payload":'
        head = opening + b"[" if self.output_type == "binary" else opening
        if len(self._topics) >= _TOPIC_CACHE_LIMIT:  # wildcard subscriptions can see many topics
            self._topics.clear()
        self._topics[topic] = head
        return head


def _large_binary(head: bytes, payload: bytes) -> bytes:
    """``head`` + the payload's byte values + ``]}``, a slice of ``_SLICE`` bytes at a time into one
    growing buffer (which ``getvalue`` hands over without a copy)."""
    out = io.BytesIO()
    out.write(head)
    view = memoryview(payload)
    text = _BYTE_TEXT.__getitem__
    for start in range(0, len(payload), _SLICE):
        if start:
            out.write(b",")
        out.write(",".join(map(text, view[start : start + _SLICE])).encode("ascii"))
    out.write(b"]}")
    return out.getvalue()


def format_record(topic: str, payload: bytes, output_type: OutputType = "binary") -> bytes:
    """One record value; see the module docstring. ``InvalidJsonPayload`` for bad JSON."""
    return RecordFormatter(output_type).format(topic, payload)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_payload(payload: bytes) -> bytes:
    try:
        value = json.loads(payload, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InvalidJsonPayload("payload is not valid JSON: not UTF-8 text") from None
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidJsonPayload(f"payload is not valid JSON: {reason}") from None
    except RecursionError:
        raise InvalidJsonPayload("payload is not valid JSON here: nested too deeply") from None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


__all__ = ["OUTPUT_TYPES", "RECORD_PREFIX", "InvalidJsonPayload", "OutputType", "RecordFormatter", "format_record"]
