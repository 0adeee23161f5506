"""Message to record value: the Fluvio MQTT connector's JSON, exactly."""

from __future__ import annotations

import json

import pytest

from fluvio_connectors.mqtt_records import InvalidJsonPayload, RecordFormatter, format_record


def test_binary_payload_is_an_array_of_byte_values() -> None:
    assert format_record("topic", b"hello world") == (
        b'{"mqtt_topic":"topic","payload":[104,101,108,108,111,32,119,111,114,108,100]}'
    )


def test_binary_payload_covers_every_byte_value_and_empty() -> None:
    value = json.loads(format_record("t", bytes(range(256))))
    assert value == {"mqtt_topic": "t", "payload": list(range(256))}
    assert format_record("t", b"") == b'{"mqtt_topic":"t","payload":[]}'


def test_json_payload_is_embedded_parsed_and_compact() -> None:
    expected = b'{"mqtt_topic":"topic","payload":{"key":"value"}}'
    assert format_record("topic", b'{"key": "value"}', "json") == expected
    expected = b'{"mqtt_topic":"t","payload":[1,2.5,null,true]}'
    assert format_record("t", b" [1, 2.5, null, true] ", "json") == expected
    assert format_record("t", b'"text"', "json") == b'{"mqtt_topic":"t","payload":"text"}'
    assert format_record("t", b"42", "json") == b'{"mqtt_topic":"t","payload":42}'


def test_json_keeps_key_order_and_unicode() -> None:
    value = format_record("t", '{"z": 1, "a": "ä€"}'.encode(), "json")
    assert value == '{"mqtt_topic":"t","payload":{"z":1,"a":"ä€"}}'.encode()


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"", b"{", b"NaN", b"[Infinity]", b"\xff\xfe\x00garbage", b"[" * 100_000],
    ids=["text", "empty", "truncated", "nan", "infinity", "not-utf8", "nested-too-deep"],
)
def test_invalid_json_payload_is_rejected_with_a_reason(payload: bytes) -> None:
    with pytest.raises(InvalidJsonPayload, match="payload is not valid JSON"):
        format_record("t", payload, "json")


def test_topic_is_escaped_as_json_and_kept_as_unicode() -> None:
    value = format_record('sensors/"quoted"/\\/ü', b"x")
    assert json.loads(value)["mqtt_topic"] == 'sensors/"quoted"/\\/ü'
    assert "ü".encode() in value


def test_formatter_reuses_topics_and_stays_bounded() -> None:
    formatter = RecordFormatter("binary")
    for i in range(10_000):
        assert json.loads(formatter.format(f"t/{i}", b"a")) == {"mqtt_topic": f"t/{i}", "payload": [97]}
    assert formatter.format("t/3", b"b") == b'{"mqtt_topic":"t/3","payload":[98]}'


def test_unknown_output_type_is_refused() -> None:
    with pytest.raises(ValueError, match="binary or json"):
        RecordFormatter("base64")  # type: ignore[arg-type]
