"""``MqttHook``: an MQTT broker, read from an Airflow connection of type ``mqtt`` (default id
``mqtt_default``), for MQTT connectors and for tasks that publish.

``host`` / ``port``   the broker (port default 1883, 8883 with TLS); ``host`` may be a URL
                      (``mqtts://broker:8883``)
``login`` / ``password``  the broker credentials (optional)
``tls``               connect with TLS (``mqtts://``); also on for a connection of type ``mqtts``
                      (``AIRFLOW_CONN_MQTT_DEFAULT='mqtts://user:pw@broker:8883'``)
``ca_cert``, ``client_cert``, ``client_key``   PEM texts: the CA to trust instead of the system's,
                      and a client certificate and key (the key is a secret)

Only credentials are masked in logs (the password and the client key): the broker's address stays
readable in every message.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from fluvio_connectors.endpoints import join_host_port, split_host_port
from fluvio_connectors.flags import is_true

DEFAULT_MQTT_CONN_ID = "mqtt_default"
# The Test button runs in the API server: connecting (name resolution, TCP, TLS, CONNACK) is bounded.
TEST_CONNECTION_TIMEOUT = 10.0
_PEM_BLOCK = re.compile(r"(-----BEGIN [A-Z0-9 ]+-----)\s*(.*?)\s*(-----END [A-Z0-9 ]+-----)", re.S)
_TLS_EXTRAS = (("MQTT_CA_CERT", "ca_cert"), ("MQTT_CLIENT_CERT", "client_cert"), ("MQTT_CLIENT_KEY", "client_key"))


class MqttHook(BaseHook):
    """An MQTT broker: the secrets an MQTT connector needs, a connected client, a real Test.

    :param mqtt_conn_id: The ``mqtt`` connection to use.
    """

    conn_name_attr = "mqtt_conn_id"
    default_conn_name = DEFAULT_MQTT_CONN_ID
    conn_type = "mqtt"
    hook_name = "MQTT"

    def __init__(self, mqtt_conn_id: str = DEFAULT_MQTT_CONN_ID, logger_name: str | None = None) -> None:
        super().__init__(logger_name=logger_name)
        self.mqtt_conn_id = mqtt_conn_id

    def _connection(self) -> Any:
        return self.get_connection(self.mqtt_conn_id)

    def broker_url(self) -> str:
        """``mqtt[s]://HOST:PORT`` of the connection, without credentials; ``ValueError`` when it
        has no host."""
        return _broker_url(self._connection())

    def connector_secrets(self) -> dict[str, str]:
        """The MQTT connector's secrets from the connection: ``MQTT_URL`` (host, port, TLS),
        ``MQTT_USERNAME``/``MQTT_PASSWORD`` (login/password), ``MQTT_CA_CERT``,
        ``MQTT_CLIENT_CERT``, ``MQTT_CLIENT_KEY``. Only those set; the password and the client key
        are masked in task logs."""
        conn = self._connection()
        secrets: dict[str, str] = {}
        if conn.host:
            secrets["MQTT_URL"] = _broker_url(conn)
        if conn.login:
            secrets["MQTT_USERNAME"] = conn.login
        if conn.password:
            secrets["MQTT_PASSWORD"] = conn.password
        extra = conn.extra_dejson
        for name, key in _TLS_EXTRAS:
            pem = _pem(extra.get(key))
            if pem:
                secrets[name] = pem
        _mask(secrets.get("MQTT_PASSWORD"), secrets.get("MQTT_CLIENT_KEY"), extra.get("client_key"))
        return secrets

    @contextmanager
    def client(self, client_id: str | None = None, *, timeout: float = 30.0) -> Iterator[Any]:
        """A paho client connected to the broker (network loop running), disconnected on exit.
        ``ConnectionError`` naming the broker when it cannot connect within ``timeout`` seconds."""
        settings = self._settings()
        client = _connect(settings, client_id or f"airflow-{uuid.uuid4().hex[:12]}", timeout)
        try:
            yield client
        finally:
            client.loop_stop()
            client.disconnect()

    def test_connection(self) -> tuple[bool, str]:
        """Connect (TLS and credentials as configured), wait for the broker's answer, disconnect;
        within ``TEST_CONNECTION_TIMEOUT`` seconds whatever the broker or the network does."""
        result: dict[str, tuple[bool, str]] = {}
        where = "the broker"

        def probe() -> None:
            try:
                settings = self._settings()
                client = _connect(settings, f"airflow-test-{uuid.uuid4().hex[:12]}", TEST_CONNECTION_TIMEOUT)
                client.loop_stop()
                client.disconnect()
                user = f" as {settings.username}" if settings.username else ""
                result["ok"] = (True, f"Connection successful. Connected to {settings.url}{user} and disconnected.")
            except Exception as exc:
                result["ok"] = (False, str(exc) or type(exc).__name__)

        try:
            where = self.broker_url()
        except Exception as exc:
            return False, str(exc)
        worker = threading.Thread(target=probe, name="mqtt-test-connection", daemon=True)
        worker.start()
        worker.join(TEST_CONNECTION_TIMEOUT + 2)
        return result.get("ok", (False, f"no answer from {where} within {TEST_CONNECTION_TIMEOUT:g} s"))

    def _settings(self) -> _Broker:
        conn = self._connection()
        extra = conn.extra_dejson
        url = _broker_url(conn)
        from fluvio_connectors.catalog import parse_mqtt_url

        endpoint = parse_mqtt_url(url)
        _mask(conn.password, extra.get("client_key"))
        return _Broker(
            url=url, host=endpoint.host, port=endpoint.port, tls=endpoint.tls,
            username=conn.login or None, password=conn.password or None,
            ca_cert=_pem(extra.get("ca_cert")), client_cert=_pem(extra.get("client_cert")),
            client_key=_pem(extra.get("client_key")),
        )


class _Broker:
    __slots__ = ("ca_cert", "client_cert", "client_key", "host", "password", "port", "tls", "url", "username")

    def __init__(self, *, url: str, host: str, port: int, tls: bool, username: str | None, password: str | None,
                 ca_cert: str | None, client_cert: str | None, client_key: str | None) -> None:
        self.url, self.host, self.port, self.tls = url, host, port, tls
        self.username, self.password = username, password
        self.ca_cert, self.client_cert, self.client_key = ca_cert, client_cert, client_key


def _broker_url(conn: Any) -> str:
    if not conn.host:
        raise ValueError(f"connection {conn.conn_id}: no host; expected the MQTT broker's address")
    host = str(conn.host).strip()
    tls = (conn.conn_type or "").lower() in ("mqtts", "ssl")
    tls = tls or is_true(conn.extra_dejson.get("tls", ""))
    if "://" in host:
        scheme, host = host.split("://", 1)
        tls = tls or scheme.lower() in ("mqtts", "ssl")
    host = host.rsplit("@", 1)[-1].rstrip("/")  # credentials belong in login/password, never in the URL
    try:  # one host:port rule (an IPv6 address bare, or in brackets with a port)
        name, port = split_host_port(host)
    except ValueError as exc:
        raise ValueError(f"connection {conn.conn_id}: host: {exc}") from None
    number = port or (int(conn.port) if conn.port else (8883 if tls else 1883))
    return f"{'mqtts' if tls else 'mqtt'}://{join_host_port(name, number)}"


def _connect(broker: _Broker, client_id: str, timeout: float) -> Any:
    """A connected paho client (network loop started), or ``ConnectionError`` saying why."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.connect_timeout = timeout
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        from fluvio_connectors.errors import ConfigError
        from fluvio_connectors.mqtt_client import tls_context

        try:
            client.tls_set_context(tls_context(broker.ca_cert, broker.client_cert, broker.client_key))
        except ConfigError as exc:  # named as the connection's fields, not the connector's secrets
            message = str(exc)
            for secret, field in _TLS_EXTRAS:
                message = message.replace(secret, field)
            raise ValueError(message.replace("secrets ", "fields ").replace("secret ", "field ")) from None
    answered = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(_client: Any, _userdata: Any, _flags: Any, reason_code: Any, _properties: Any) -> None:
        outcome["reason"] = reason_code
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=max(5, int(timeout)))
    except OSError as exc:
        raise ConnectionError(f"cannot connect to {broker.url}: {exc.strerror or exc}") from None
    client.loop_start()
    if not answered.wait(timeout):
        client.loop_stop()
        client.disconnect()
        raise ConnectionError(f"no answer from {broker.url} within {timeout:g} s")
    reason = outcome["reason"]
    if getattr(reason, "is_failure", False):
        client.loop_stop()
        client.disconnect()
        raise ConnectionError(f"the broker {broker.url} refused the connection: {reason}")
    return client


def _pem(text: str | None) -> str | None:
    """PEM text as given, or with its line breaks restored when a single-line form field lost
    them (``-----BEGIN X-----MIIB...-----END X-----``); None for an empty field."""
    if not text:
        return None
    text = str(text)
    if "\n" in text.strip() or "\\n" in text:  # multi-line, or one line with \n escapes (read as such)
        return text

    def block(match: re.Match[str]) -> str:
        body = re.sub(r"\s+", "", match.group(2))
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join([match.group(1), *lines, match.group(3)]) + "\n"

    return _PEM_BLOCK.sub(block, text)


def _mask(*values: str | None) -> None:
    from airflow.providers.common.compat.sdk import mask_secret

    for value in values:
        if value:
            mask_secret(value)


__all__ = ["DEFAULT_MQTT_CONN_ID", "MqttHook"]
