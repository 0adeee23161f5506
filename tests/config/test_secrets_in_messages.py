"""No message holds a secret, however the config is wrong (issue 11, item 3), and secrets files
follow the dotenv convention (item 15).

A canary secret is put into every parameter of both connector types (through a secret reference,
a secret the program reads, an inline secret, a password in the URL), in values that fail
validation in every way we know of and in values that pass. Neither the canary nor a piece of it
may appear in an error, in the summary ``validate`` prints, in the stored document or in a repr.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from fluvio_connectors.catalog import TEST_CONNECTOR, all_types
from fluvio_connectors.config import ConnectorConfig, config_summary, load_config, read_secrets_file
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.runner import Program, run
from fluvio_connectors.status import read_status

CANARY = "kx9CanaryQv2Z"
PIECES = (CANARY, CANARY[:6], CANARY[-6:])

# Secret values that break every rule a parameter has (and a few that pass some of them).
HOSTILE_VALUES = {
    "url-with-everything": f"mqtt://reader:{CANARY}@ho st:99/p?q=1#f",
    "long": CANARY * 4000,
    "control": f"{CANARY}\x1b[2J\r\n",
    "scheme-like": f"{CANARY}:{CANARY}",
    "port-like": f"mqtt://host:{CANARY}",
    "nul": f"{CANARY}\x00",
    "plain": CANARY,
    "filter": f"a/{CANARY}/#",
}

BASE = {
    "test-connector": {},
    "mqtt": {"mqtt-url": "broker.example", "mqtt-topic": "a/b"},
    "sql-sink": {"url": "sqlite:///tmp/canary.db"},
    "http-sink": {"endpoint": "http://127.0.0.1:9/x"},
}


def assert_no_canary(text: str) -> None:
    for piece in PIECES:
        assert piece not in text, text[:300]


def check(source: Any, secrets: dict[str, str]) -> None:
    """Load ``source``: an error must not show the canary; nor may what a valid config shows."""
    try:
        config = load_config(source, secrets=secrets)
    except ConfigError as exc:
        assert_no_canary(str(exc))
        assert len(str(exc)) < 400 and "\n" not in str(exc)
        return
    # (the parameters model itself holds resolved values, as the program needs them; nothing prints it)
    shown_by_validate = [config_summary(config), config.to_yaml(), repr(config), str(config)]
    for text in shown_by_validate:
        assert_no_canary(text)


def cases() -> list[tuple[str, str, str]]:
    return [(ctype.name, param, kind) for ctype in all_types() for param in ctype.parameter_names
            for kind in HOSTILE_VALUES]


@pytest.mark.parametrize(("type_name", "param", "kind"), cases())
def test_a_secret_referenced_by_any_parameter_never_shows(type_name: str, param: str, kind: str) -> None:
    params = {**BASE[type_name], param: "${{ secrets.CANARY_SECRET }}"}
    config = {"name": "canary", "type": type_name, "topic": "t", "parameters": params}
    check(config, {"CANARY_SECRET": HOSTILE_VALUES[kind]})
    # The same inside a list (mqtt-topic takes one), and with the reference mid-string.
    params[param] = ["ok/filter", "x-${{ secrets.CANARY_SECRET }}-y"]
    check(config, {"CANARY_SECRET": HOSTILE_VALUES[kind]})


@pytest.mark.parametrize("kind", sorted(HOSTILE_VALUES))
def test_secrets_the_program_reads_never_show(kind: str) -> None:
    value = HOSTILE_VALUES[kind]
    store = {"MQTT_URL": value, "MQTT_USERNAME": value, "MQTT_PASSWORD": value, "MQTT_CA_CERT": value}
    check({"name": "canary", "type": "mqtt", "topic": "t", "parameters": {"mqtt-topic": "a/b"}}, store)
    # ... also when something else is what is wrong
    check({"name": "canary", "type": "mqtt", "topic": "t", "parameters": {"mqtt-topic": "a/b", "qos": 7}}, store)


@pytest.mark.parametrize(
    "url",
    [
        f"mqtt://u:{CANARY}@host/path",
        f"mqtt://u:{CANARY}@ho st",
        f"mqtt://u:{CANARY}@host?x=1",
        f"mqtt://u:{CANARY}@host#frag",
        f"mqtt://u:{CANARY}@host:99999",
        f"mqtt://u:{CANARY}@host:abc",
        f"mqtt://u:{CANARY}@[::zz]",
        f"ws://u:{CANARY}@host",
        f"mqtt://u:{CANARY}@{'h' * 70}.example",
        f"mqtt://u:{CANARY}/x@host",
        f"mqtt://u:{CANARY}@host\x00",
        f"u:{CANARY}@host",
    ],
)
def test_a_password_written_in_a_bad_url_never_shows(url: str) -> None:
    check({"name": "canary", "type": "mqtt", "topic": "t", "parameters": {"mqtt-url": url, "mqtt-topic": "a/b"}}, {})
    check({"name": "canary", "type": "mqtt", "topic": "t",
           "parameters": {"mqtt-url": url, "mqtt-topic": "a/b", "client-id": "\x00"}}, {})


def test_inline_and_cdk_secrets_never_show_when_something_else_is_wrong() -> None:
    check({"name": "canary", "type": "mqtt", "topic": "t", "secrets": {"MQTT_PASSWORD": CANARY},
           "parameters": {"mqtt-url": "h", "mqtt-topic": "a/b", "timeout": CANARY}}, {})
    cdk = {"apiVersion": "0.1.0", "meta": {"version": "0.1.0", "name": "canary", "type": "mqtt-source", "topic": "t"},
           "mqtt": {"url": {"secret": {"name": "URL"}}, "topic": "a/b", "timeout": {"secs": ".inf"}}}
    check(cdk, {"URL": f"mqtt://u:{CANARY}@host"})


def test_an_invalid_secret_url_fails_validation_without_showing_it() -> None:
    with pytest.raises(ConfigError, match="secret MQTT_URL: the URL contains spaces") as info:
        load_config({"name": "canary", "type": "mqtt", "topic": "t", "parameters": {"mqtt-topic": "a/b"}},
                    secrets={"MQTT_URL": f"mqtt://u:{CANARY}@ho st"})
    assert_no_canary(str(info.value))


def test_a_valid_parameter_from_a_secret_shows_its_reference() -> None:
    config = load_config({"name": "canary", "type": "mqtt", "topic": "t",
                          "parameters": {"mqtt-url": "h", "mqtt-topic": "a/b", "client-id": "${{ secrets.ID }}"}},
                         secrets={"ID": CANARY})
    assert config.parameters.client_id == CANARY  # type: ignore[attr-defined]
    assert "client-id=${{ secrets.ID }}" in config_summary(config)
    assert_no_canary(config_summary(config))


def test_a_broker_address_given_as_a_secret_stays_readable_but_its_password_does_not() -> None:
    """MQTT_URL from an Airflow connection: the reason must name the broker, never ``***``."""
    from fluvio_connectors.messages import Redactor

    config = load_config({"name": "m", "type": "mqtt", "topic": "t", "parameters": {"mqtt-topic": "a/b"}},
                         secrets={"MQTT_URL": f"mqtt://reader:{CANARY}@127.0.0.1:28884", "MQTT_PASSWORD": "pw-77123"})
    redact = Redactor(config.values_to_hide())
    assert redact("cannot connect to mqtt://reader@127.0.0.1:28884: Connection refused") == (
        "cannot connect to mqtt://reader@127.0.0.1:28884: Connection refused")
    assert redact(f"mqtt://reader:{CANARY}@127.0.0.1:28884 pw-77123") == "mqtt://reader:***@127.0.0.1:28884 ***"
    plain = load_config({"name": "m", "type": "mqtt", "topic": "t", "parameters": {"mqtt-topic": "a/b"}},
                        secrets={"MQTT_URL": "mqtt://127.0.0.1:28884"})
    assert plain.values_to_hide() == set()


def test_the_program_redacts_its_log_and_status_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"name: canary\ntype: test\ntopic: t\ncreate_topic: true\nsecrets:\n  TOKEN: {CANARY}\n")
    status = tmp_path / "status.json"

    def leaky(ctx: Any) -> None:
        token = ctx.config.secret_values()["TOKEN"]
        logging.getLogger("somewhere.else").warning("a library logs %s", token)
        raise FluvioConnectorError(f"the source refused {token}")

    env = {"FLUVIO_CONNECTOR_STATUS_FILE": str(status)}
    monkeypatch.setenv("FLUVIO_CONNECTOR_STATUS_FILE", str(status))
    rc = run(Program(connector_type=TEST_CONNECTOR, body=leaky), ["--config", str(config)], env)
    assert rc == 1
    log = capfd.readouterr().err
    assert "a library logs ***" in log and "the source refused ***" in log
    assert_no_canary(log)
    written = read_status(status)
    assert written is not None and written.last_error == "the source refused ***"
    assert_no_canary(status.read_text())


# --------------------------------------------------------------------------- item 15: dotenv convention


def test_secrets_file_values_lose_their_quotes(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text(
        "# credentials\n"
        'MQTT_PASSWORD="s3cret with spaces"\n'
        "MQTT_USERNAME='reader'\n"
        "export TOKEN=plain # a comment\n"
        "EQUALS=a=b\n"
        'MQTT_CA_CERT="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"\n'
        "EMPTY=\n"
    )
    assert read_secrets_file(path) == {
        "MQTT_PASSWORD": "s3cret with spaces",
        "MQTT_USERNAME": "reader",
        "TOKEN": "plain",
        "EQUALS": "a=b",
        "MQTT_CA_CERT": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'A=1\nB="unclosed {CANARY}\n', r"secrets\.env:2: expected NAME=VALUE"),
        (f"A=1\n\n{CANARY}\n", r"secrets\.env:3: expected NAME=VALUE"),
        (f"1BAD={CANARY}\n", r"secrets\.env:1: expected NAME=VALUE"),
        (f"A={CANARY}\nA=2\n", r"secrets\.env:2: A given twice \(first on line 1\)"),
    ],
)
def test_a_bad_secrets_file_names_the_line_not_its_content(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "secrets.env"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        read_secrets_file(path)
    assert_no_canary(str(info.value))


def test_a_config_built_by_hand_cannot_carry_a_path_as_its_name() -> None:
    config = load_config({"name": "ok", "type": "test", "topic": "t"}, secrets={})
    with pytest.raises(ValueError, match="is not a valid connector name"):
        ConnectorConfig(**{**dict(config), "name": "../../etc"})
