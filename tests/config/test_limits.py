"""What a config may be, and no more: sizes, nesting, aliases, numbers, duplicate keys, and the
values a program could not run (issue 11, items 4, 5, 6, 7, 12 and 16).

Every refusal is one ``ConfigError`` line naming the field path, never a traceback; every value
at the edge of what is allowed still loads.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fluvio_connectors.config import load_config, read_secrets_file
from fluvio_connectors.errors import ConfigError

MAX_MESSAGE = 400


def mqtt(**params: Any) -> dict[str, Any]:
    return {"name": "m", "type": "mqtt", "topic": "t",
            "parameters": {"mqtt-url": "broker.example", "mqtt-topic": "a/b", **params}}


def test_connector(**params: Any) -> dict[str, Any]:
    return {"name": "c", "type": "test", "topic": "t", "parameters": params}


test_connector.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def refused(source: Any, *expected: str, secrets: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(source, secrets=secrets or {})
    message = str(info.value)
    assert "\n" not in message and len(message) < MAX_MESSAGE, message
    for part in expected:
        assert part in message, message
    return message


# --------------------------------------------------------------------------- item 4: sizes


def test_a_config_file_over_1_mib_is_refused_after_reading_1_mib(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: a\ntype: test\ntopic: t\n# " + "x" * (1024 * 1024) + "\n")
    refused(path, f"{path}: larger than 1 MiB; expected a YAML config file of at most 1 MiB")


def test_dev_zero_as_a_config_is_refused() -> None:
    refused(Path("/dev/zero"), "/dev/zero: is a device, not a regular file; expected a YAML config file")


def test_a_fifo_as_a_config_or_secrets_file_is_refused_without_waiting(tmp_path: Path) -> None:
    """Nobody writes to the FIFO: opening it to read would wait forever (issue 22)."""
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    refused(fifo, f"{fifo}: is a FIFO (named pipe), not a regular file; expected a YAML config file")
    refused(str(fifo), "is a FIFO (named pipe), not a regular file")
    with pytest.raises(ConfigError, match="is a FIFO \\(named pipe\\), not a regular file; expected a NAME=VALUE secrets"):
        read_secrets_file(fifo)


def test_a_secrets_file_over_1_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("A=" + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        read_secrets_file(path)


def test_a_secret_too_big_for_an_environment_variable_is_refused() -> None:
    config = {**test_connector(), "secrets": ["BIG"]}
    refused(config, "secret BIG: 200005 bytes; a secret reaches the connector as an environment variable",
            secrets={"BIG": "x" * 200_000})
    load_config(config, secrets={"BIG": "x" * (128 * 1024 - 6)})


def test_an_inline_yaml_string_over_1_mib_is_refused() -> None:
    refused("name: a\n# " + "x" * (1024 * 1024), "<string>: larger than 1 MiB")


BILLION_LAUGHS = """\
name: a
type: mqtt
topic: t
parameters:
  mqtt-url: h
  mqtt-topic:
    - &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    - &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    - &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    - &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    - &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    - [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_alias_expansion_beyond_the_budget_is_refused() -> None:
    refused(BILLION_LAUGHS, "parameters.mqtt-topic[4]", "more than 10000 values in the config (aliases count")


def test_a_few_aliases_are_fine() -> None:
    config = load_config("name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-url: h\n"
                         "  mqtt-topic: &f [a/b, c/d]\nsecrets: {}\n", secrets={})
    assert config.parameters.mqtt_topic == ["a/b", "c/d"]  # type: ignore[attr-defined]


def test_a_huge_topic_list_is_refused_without_parsing_all_of_it() -> None:
    text = "name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-url: h\n  mqtt-topic: [" + ", ".join(["x"] * 200_000) + "]\n"
    refused(text, "parameters.mqtt-topic[", "more than 10000 values")


@pytest.mark.parametrize("depth", [33, 100_000])
def test_deep_nesting_in_yaml_is_refused(depth: int) -> None:
    text = "name: a\ntype: test\ntopic: t\nparameters:\n  count: " + "[" * depth + "]" * depth + "\n"
    message = refused(text, "line 5")
    # ours at 33 levels; libyaml (when PyYAML has it) refuses a very deep document while scanning
    assert ("parameters.count[0][0]" in message and "nested deeper than 32 levels" in message) or (
        depth > 1000 and "exceeded maximum nesting depth" in message), message


def test_deep_and_cyclic_dicts_are_refused() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10_000):
        node["k"] = {}
        node = node["k"]
    refused(test_connector(count=deep), "nested deeper than 32 levels")
    cyclic: dict[str, Any] = test_connector()
    cyclic["parameters"]["count"] = cyclic
    refused(cyclic, "nested deeper than 32 levels")


def test_every_echoed_value_is_an_excerpt() -> None:
    message = refused({"name": "x" * 5_000_000, "type": "test", "topic": "t"}, "name: 'xxxxx", "(5000000 characters)")
    assert len(message) < 300
    message = refused(test_connector(timeout="y" * 5_000_000), "parameters.timeout", "(5000000 characters)")
    refused({"name": "a", "type": "z" * 100_000, "topic": "t"}, "type: unknown connector type 'zzz")
    refused({"name": "a", "type": "test", "topic": "t", "k" * 100_000: 1}, "unknown key")


# --------------------------------------------------------------------------- item 5: numbers

DURATION_AND_COUNT_FIELDS = [
    (test_connector, "timeout"),
    (test_connector, "count"),
    (mqtt, "timeout"),
    (mqtt, "qos"),
]
SPECIAL_NUMBERS = [float("inf"), float("-inf"), float("nan"), 10**400, 1e308, -(10**30), 2**64]


@pytest.mark.parametrize(("build", "field"), DURATION_AND_COUNT_FIELDS)
@pytest.mark.parametrize("number", SPECIAL_NUMBERS, ids=repr)
def test_special_and_huge_numbers_are_one_line_errors(build: Any, field: str, number: Any) -> None:
    refused(build(**{field: number}), f"parameters.{field}")


@pytest.mark.parametrize("text", [".inf", "-.inf", ".nan", "1e400", "9" * 41])
@pytest.mark.parametrize("field", ["timeout", "count"])
def test_special_numbers_written_in_yaml(text: str, field: str) -> None:
    refused(f"name: a\ntype: test\ntopic: t\nparameters:\n  {field}: {text}\n", f"parameters.{field}")


@pytest.mark.parametrize("number", [*SPECIAL_NUMBERS, 0, "0", "0kb", -1, 1024**3 + 1, "2gb", "1e9"], ids=repr)
def test_producer_batch_size_bounds(number: Any) -> None:
    config = test_connector()
    config["producer"] = {"batch-size": number}
    refused(config, "producer.batch-size: expected a size from 1 byte to 1gib")


@pytest.mark.parametrize(
    ("written", "size"),
    [
        (16384, 16384),
        ("16384", 16384),
        ("100b", 100),
        ("64kb", 64_000),
        ("64kib", 65_536),
        ("64KiB", 65_536),
        ("1mb", 1_000_000),
        ("1mib", 1_048_576),
        ("1.5 MiB", 1_572_864),
        ("1gb", 1_000_000_000),
        ("1gib", 1_073_741_824),
    ],
)
def test_producer_batch_size_units(written: Any, size: int) -> None:
    """kb, mb, gb count powers of 1000; kib, mib, gib powers of 1024 (as Fluvio's own configs)."""
    config = test_connector()
    config["producer"] = {"batch-size": written}
    assert load_config(config, secrets={}).producer.batch_size == size


@pytest.mark.parametrize("written", ["1.5gib", "8kbit", "1 fortnight", "mib"])
def test_producer_batch_size_refused(written: str) -> None:
    config = test_connector()
    config["producer"] = {"batch-size": written}
    refused(config, f"producer.batch-size: expected a size from 1 byte to 1gib, such as 16384, 64kib or 1mb "
                    f"(kb, mb, gb are powers of 1000; kib, mib, gib of 1024), got '{written}'")


@pytest.mark.parametrize("number", [float("inf"), float("nan"), 10**400, "400 days"], ids=repr)
def test_producer_linger_bounds(number: Any) -> None:
    config = test_connector()
    config["producer"] = {"linger": number}
    refused(config, "producer.linger")


def test_batch_size_and_linger_at_their_limits_load() -> None:
    config = test_connector()
    config["producer"] = {"batch-size": "1gb", "linger": "8760h"}
    loaded = load_config(config, secrets={})
    assert loaded.producer.batch_size == 1000**3
    assert loaded.producer.linger_ms == 365 * 24 * 3600 * 1000


# --------------------------------------------------------------------------- item 6: what the program can run


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"timeout": 65536}, "parameters.timeout: expected at most 65535s"),
        ({"timeout": "19h"}, "parameters.timeout: expected at most 65535s"),
        ({"mqtt-url": "h" * 64 + ".example"}, "parameters.mqtt-url: the host is not a valid host name"),
        ({"mqtt-url": "mqtt://ho st"}, "parameters.mqtt-url: the URL contains spaces or control characters"),
        ({"mqtt-url": "mqtt://ho\tst:1883"}, "the URL contains spaces or control characters"),
        ({"mqtt-url": "mqtt://host/?x=1"}, "a query (?...) or fragment (#...) has no meaning"),
        ({"mqtt-url": "mqtt://host#frag"}, "a query (?...) or fragment (#...) has no meaning"),
        ({"mqtt-url": "mqtt://host:0"}, "the port must be a number from 1 to 65535"),
        ({"mqtt-url": "mqtt://host:65536"}, "the port must be a number from 1 to 65535"),
        ({"mqtt-url": "mqtt://host:abc"}, "the port must be a number from 1 to 65535"),
        ({"mqtt-url": "mqtt://[::zz]:1883"}, "not a valid IPv6 address"),
        ({"mqtt-url": "mqtt://-bad-.example"}, "the host is not a valid host name"),
        ({"mqtt-topic": "a" * 65536}, "parameters.mqtt-topic[0]: Value error, the topic filter is 65536 bytes"),
        ({"mqtt-topic": ["ok", "é" * 32768]}, "parameters.mqtt-topic[1]: Value error, the topic filter is 65536 bytes"),
        ({"mqtt-topic": "a\x00b"}, "parameters.mqtt-topic[0]: Value error, the topic filter contains a NUL or control"),
        ({"mqtt-topic": "a\ud800b"}, "not valid Unicode (a lone surrogate)"),
        ({"client-id": "id\x00"}, "parameters.client-id: Value error, the client id contains a NUL or control"),
        ({"client-id": "\x1b[31mred"}, "the client id contains a NUL or control"),
    ],
)
def test_mqtt_values_the_program_cannot_run_are_refused(params: dict[str, Any], expected: str) -> None:
    refused(mqtt(**params), expected.replace("Value error, ", ""))


@pytest.mark.parametrize(
    "params",
    [
        {"timeout": 65535},
        {"timeout": 1},
        {"mqtt-url": "h" * 63 + ".example"},
        {"mqtt-url": "mqtts://[::1]:8883"},
        {"mqtt-url": "mqtt://10.0.0.1:1"},
        {"mqtt-url": "tcp://my_broker:65535/"},
        {"mqtt-url": "mqtt://bücher.example"},
        {"mqtt-topic": "a" * 65535},
        {"mqtt-topic": ["é" * 32767, "+/x/#"]},
        {"client-id": "x" * 128},
    ],
)
def test_values_at_the_mqtt_limits_load(params: dict[str, Any]) -> None:
    load_config(mqtt(**params), secrets={})


def test_a_test_connector_timeout_too_large_for_a_timer_is_refused() -> None:
    refused(test_connector(timeout=10**15), "parameters.timeout: expected at most 365 days")
    refused(test_connector(timeout="8761h"), "parameters.timeout: expected at most 365 days")
    assert load_config(test_connector(timeout="8760h"), secrets={}).parameters.timeout == timedelta(days=365)  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", ["-bad", ".bad", "a" * 129, "1.0 beta", "v1/evil", "x:y", "", "tag\n"])
def test_a_version_that_is_not_an_image_tag_is_refused(version: str) -> None:
    config = test_connector()
    config["version"] = version
    refused(config, "version:")


@pytest.mark.parametrize("version", ["latest", "dev", "v1", "0.1.0", "1.0_rc-1", "A" * 128, 0.1])
def test_valid_image_tags_load(version: Any) -> None:
    config = test_connector()
    config["version"] = version
    assert load_config(config, secrets={}).version == str(version)


# --------------------------------------------------------------------------- item 7: duplicate keys


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: a\nname: b\ntype: test\ntopic: t\n", "name: given twice (lines 1 and 2)"),
        ("name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-url: h\n  mqtt-topic: x\n  qos: 0\n  qos: 1\n",
         "parameters.qos: given twice (lines 7 and 8)"),
        ("name: a\ntype: test\ntopic: t\nproducer: {linger: 1ms, linger: 2ms}\n", "producer.linger: given twice"),
        ("name: a\ntype: test\ntopic: t\nparameters:\n  count: 1\n  count: 1\n", "parameters.count: given twice"),
    ],
)
def test_duplicate_keys_are_refused_with_their_path(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    refused(path, f"{path}: {expected}")


# --------------------------------------------------------------------------- item 12: an unbounded test connector


def test_an_unlimited_test_connector_needs_an_interval_of_at_least_10ms() -> None:
    refused(test_connector(timeout=0), "parameters.timeout: below 10ms the connector needs a count")
    refused(test_connector(timeout="9ms"), "set count, or a timeout of at least 10ms")
    assert load_config(test_connector(timeout=0, count=1000), secrets={}).parameters.count == 1000  # type: ignore[attr-defined]
    load_config(test_connector(timeout="10ms"), secrets={})


# --------------------------------------------------------------------------- item 16: messages say what is true


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:/etc/passwd", "http:foo"])
def test_a_url_with_a_foreign_scheme_is_called_that(url: str) -> None:
    message = refused(mqtt(**{"mqtt-url": url}), "parameters.mqtt-url: unsupported scheme")
    assert "cast" not in message and "port must" not in message


def test_host_and_port_without_a_scheme_still_work() -> None:
    config = load_config(mqtt(**{"mqtt-url": "broker.example:1884"}), secrets={})
    assert config.parameters.mqtt_url == "broker.example:1884"  # type: ignore[attr-defined]
