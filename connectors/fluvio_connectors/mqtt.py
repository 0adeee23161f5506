"""The MQTT source: every message on the subscribed filters becomes one record.

``python -m fluvio_connectors.mqtt --config FILE [--secrets FILE]``

Record value: ``{"mqtt_topic": ..., "payload": ...}``, no key (``mqtt_records``).

Delivery. Two threads: paho's network thread puts the messages it decodes in a bounded inbox; the
writer (the main thread) takes whatever has arrived (up to ``MAX_BATCH``), stores it as one batch,
and only then acknowledges those messages to the broker (qos 1 PUBACK, qos 2 PUBREC, see
``mqtt_client``). Nothing waits for a batch to fill (``_next_batch``): an idle connector stores a
lone message at once, and under load the messages that arrive while one batch is stored form the
next, so batches grow with the load (a group commit). When the writer is idle (nothing waiting, no
batch being stored) the network thread stores what it has just decoded itself rather than waking
the writer for it (``_on_delivery``): one thread hand-off less per message, and under a steady
flood one thread doing the work without handing the GIL back and forth. A connector killed at any moment therefore
loses nothing at qos >= 1: the broker redelivers what was not acknowledged (duplicates are
possible, losses are not). Nothing is ever dropped to relieve pressure: when the topic backend is
slow the inbox fills, the network thread blocks on it and stops reading, and the broker holds the
rest (for qos >= 1 it never sends more than the receive maximum we announce, or its own in-flight
limit with MQTT 3.1.1).

Sessions. The client id defaults to ``fluvio-<connector name>``, stable across restarts. With
qos >= 1 the session is persistent (MQTT 5: clean start off and a session that never expires;
MQTT 3.1.1: clean session off), so messages published while the connector is down wait at the
broker. The broker must keep them: mosquitto's stock ``max_queued_messages 1000`` drops the rest.

Replicas (``fluvio_connectors.replicas``). With several, the filters become MQTT 5 shared
subscriptions of the group named after the connector (``$share/<name>/<filter>``; a filter that
already is one is kept), so the broker hands each message to one replica; replica ``i`` connects as
``<client id>-<i>`` with its own persistent session (the broker also queues a stopped replica's
share for it, so a stable id is what makes it reach the topic). A broker that does not speak
MQTT 5 or offers no shared subscriptions is a fatal error: every replica would receive every
message. Retained messages are not sent to shared subscriptions.

Connection. MQTT 5 first (it lets us raise the broker's in-flight window to ``RECEIVE_MAXIMUM``),
falling back to MQTT 3.1.1 when a broker that never accepted MQTT 5 refuses the protocol version,
closes the connection or does not answer the CONNECT within ``V5_ANSWER_SECONDS``. It reconnects forever
with exponential backoff (1 s doubling, capped by ``timeout``, which is also the keep-alive),
logging each attempt; the status says ``reconnecting`` meanwhile, and the subscription is renewed
on every connection. A broker that refuses the credentials, the client id or a subscription is a
fatal error (exit 1): retrying cannot fix it, and the supervisor's restart backoff covers a
broker that is being reconfigured.

Acknowledgements go to the connection a message came from: after a reconnect, messages received
on the old connection are stored but not acknowledged (the broker redelivers them), because a
packet id on a new connection may already name a different message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from fluvio_connectors.catalog import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_MQTT_PACKET,
    MQTT,
    MqttEndpoint,
    MqttParameters,
    mqtt_url_source,
    parse_mqtt_url,
)
from fluvio_connectors.config import ConnectorConfig
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.mqtt_records import RECORD_PREFIX, InvalidJsonPayload, OutputType, RecordFormatter
from fluvio_connectors.replicas import shared_filter
from fluvio_connectors.runner import ConnectorContext, Program, main

if TYPE_CHECKING:
    from fluvio_connectors.mqtt_client import StoreFirstClient

log = logging.getLogger("fluvio_connectors.mqtt")

MAX_BATCH = 1000  # records stored per transaction at most
# Unacknowledged qos 1/2 messages an MQTT 5 broker may send us: a few batches, so the broker keeps
# sending while a batch is being stored. The inbox holds at most that many at qos >= 1 (what is
# being stored has left it but is not acknowledged yet); at qos 0 it is the only limit.
RECEIVE_MAXIMUM = 3 * MAX_BATCH
INBOX_CAPACITY = RECEIVE_MAXIMUM
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
DRAIN_SECONDS = 3.0  # a stop spends at most this long storing what has already arrived
INVALID_JSON_LOG_INTERVAL = 60.0
TAKE_TIMEOUT = 0.2  # how often the writer looks at the stop flag while idle
IDLE_GAP = 0.001  # with a linger: no message for this long means the flow paused (store now)
V5_ANSWER_SECONDS = 5.0  # an MQTT 3.1.1-only broker may not answer an MQTT 5 CONNECT at all
PUBLISH_HEADROOM = 65_536 + 256  # a PUBLISH beside its payload: topic (up to 65535), packet id, properties

# CONNACK refusals that retrying cannot fix (MQTT 5 reason codes; paho maps 3.1.1 codes to them).
_FATAL_REFUSALS = {
    0x85: "the client id is not accepted (set client-id)",
    0x86: "bad user name or password (check MQTT_USERNAME/MQTT_PASSWORD or the URL)",
    0x87: "not authorized (check the credentials and the broker's ACL)",
    0x8A: "the client is banned",
    0x8C: "bad authentication method",
}
_UNSUPPORTED_PROTOCOL = 0x84

# One received message on its way to the topic: (connection generation, packet id, qos, topic,
# payload, dup flag). A plain tuple: one is made per message on the hot path. The payload of a
# message the client left out (larger than max-message-size) is its size instead.
Message = tuple[int, int, int, str, bytes | int, bool]


class MqttError(FluvioConnectorError):
    """The broker refused something retrying cannot fix (credentials, client id, subscription)."""


@dataclass(frozen=True)
class MqttSettings:
    """Everything the MQTT source needs, resolved from the config and its secrets."""

    endpoint: MqttEndpoint
    client_id: str
    filters: tuple[str, ...]
    qos: int
    timeout: int  # seconds: keep-alive and reconnect backoff cap
    output_type: OutputType
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_cert: str | None = field(default=None, repr=False)
    client_cert: str | None = field(default=None, repr=False)
    client_key: str | None = field(default=None, repr=False)
    replicas: int = 1  # instances splitting the stream (``fluvio_connectors.replicas``)
    replica: int | None = None  # this one's index, when the runtime gave one
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE  # the largest payload taken (``max-message-size``)

    @classmethod
    def from_config(cls, config: ConnectorConfig, replicas: int = 1, replica: int | None = None) -> MqttSettings:
        params = cast(MqttParameters, config.parameters)
        secrets = config.secret_values()
        url, where = mqtt_url_source(params, secrets)
        if not url:
            raise ConfigError(f"{config.origin}: parameters.mqtt-url: missing; expected the broker URL "
                              "(or the secret MQTT_URL)")
        try:
            endpoint = parse_mqtt_url(url)
        except ValueError as exc:  # the message never repeats the URL (it may hold a password)
            raise ConfigError(f"{config.origin}: {where}: {exc}") from None
        username = secrets.get("MQTT_USERNAME") or endpoint.username
        password = secrets.get("MQTT_PASSWORD") or endpoint.password
        if password and not username:
            raise ConfigError(f"{config.origin}: a password is set but no user name; expected the secret "
                              "MQTT_USERNAME or user:password@ in the URL")
        tls_material = [n for n in ("MQTT_CA_CERT", "MQTT_CLIENT_CERT", "MQTT_CLIENT_KEY") if secrets.get(n)]
        if tls_material and not endpoint.tls:
            log.warning("%s set but the broker URL %s is not TLS (mqtts://): ignored",
                        ", ".join(tls_material), endpoint.redacted)
        filters = tuple(params.mqtt_topic)
        if replicas > 1:  # the group is the connector: its replicas share each message once
            filters = tuple(shared_filter(f, config.name) for f in filters)
        return cls(
            endpoint=endpoint,
            client_id=params.client_id or f"fluvio-{config.name}",
            filters=filters,
            qos=params.qos,
            timeout=max(1, round(params.timeout.total_seconds())),
            output_type=params.payload_output_type,
            username=username,
            password=password,
            ca_cert=secrets.get("MQTT_CA_CERT") if endpoint.tls else None,
            client_cert=secrets.get("MQTT_CLIENT_CERT") if endpoint.tls else None,
            client_key=secrets.get("MQTT_CLIENT_KEY") if endpoint.tls else None,
            replicas=replicas,
            replica=replica,
            max_message_size=params.max_message_size,
        )

    def client_id_for(self, slot: int | None) -> str:
        """The client id of replica ``slot``: ``client_id`` itself when there is one replica."""
        return self.client_id if self.replicas == 1 or slot is None else f"{self.client_id}-{slot}"

    @property
    def persistent(self) -> bool:
        return self.qos >= 1


class Inbox:
    """The bounded hand-over from the network thread to the writer.

    ``put_many`` blocks while the inbox is full (that is the back-pressure: the network thread
    stops reading), then adds the whole run it was given (so the inbox may hold up to one run more
    than its capacity); ``take`` returns everything that has arrived, up to a limit, waiting only
    while nothing has. After ``close`` a blocked ``put_many`` gives up and returns False.
    """

    def __init__(self, capacity: int) -> None:
        self._items: deque[Message] = deque()
        self._capacity = capacity
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Message) -> bool:
        return self.put_many([item])

    def put_many(self, items: list[Message]) -> bool:
        with self._cond:
            while len(self._items) >= self._capacity:
                if self._closed:
                    return False
                self._cond.wait(0.5)
            was_empty = not self._items
            self._items.extend(items)
            if was_empty:
                self._cond.notify_all()
            return True

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for something to arrive; whether anything has."""
        with self._cond:
            if not self._items and timeout > 0:
                self._cond.wait(timeout)
            return bool(self._items)

    def take(self, limit: int, timeout: float) -> list[Message]:
        with self._cond:
            if not self._items and timeout > 0:
                self._cond.wait(timeout)
            items = self._items
            was_full = len(items) >= self._capacity
            if len(items) <= limit:
                batch = list(items)
                items.clear()
            else:
                batch = [items.popleft() for _ in range(limit)]
            if was_full and batch:
                self._cond.notify_all()
            return batch

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class MqttSource:
    """Subscribes, stores, acknowledges; see the module docstring."""

    def __init__(self, ctx: ConnectorContext, settings: MqttSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self._formatter = RecordFormatter(settings.output_type)
        self._inbox = Inbox(INBOX_CAPACITY)
        self._linger = ctx.config.producer.linger_ms / 1000.0
        # Held from taking a batch to having stored it; the network thread stores a run itself
        # only while it is free and the inbox empty, so records keep the order messages came in.
        self._store_lock = threading.Lock()
        self._direct = self._linger <= 0  # a configured linger asks for batches: no shortcut then
        self._client: StoreFirstClient | None = None
        # Guards _generation against the writer's acknowledgements (see _acknowledge).
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._v5 = True
        self._v5_accepted = False  # once a broker accepted MQTT 5 we never fall back
        self._closing = False
        self._fatal: str | None = None
        self._switch_protocol = False
        self._client_id = settings.client_id
        self._connected_as: str | None = None  # the client id of the last connection
        self._connections = 0
        self._failed_attempts = 0
        self._subscribed_filters: tuple[str, ...] = ()
        self._skipped_since_log: dict[str, int] = {}  # by counter: not stored, not logged one by one yet
        self._skip_logged_at: dict[str, float] = {}

    # ---- the writer (main thread)

    def run(self) -> None:
        while True:
            client = self._start_client()
            try:
                self._consume(client)
            except BaseException:
                self._stop_client(client, store_leftovers=False)
                raise
            self._stop_client(client, store_leftovers=not (self._fatal or self._switch_protocol))
            if self._fatal:
                raise MqttError(self._fatal)
            if not self._switch_protocol:
                return
            self._switch_protocol = False
            self._v5 = False

    def _consume(self, client: StoreFirstClient) -> None:
        stopping = self.ctx.stopping
        while not stopping.is_set() and self._fatal is None and not self._switch_protocol:
            if not self._store_lock.locked():
                # Idle is progress; a store in progress shows its own (ctx.produced), so a store
                # stuck in the network thread leaves the heartbeat to go stale, as it should.
                self.ctx.beat()
            if self._inbox.wait(TAKE_TIMEOUT):
                with self._store_lock:  # from taking to stored: see _on_delivery
                    batch = self._next_batch()
                    if batch:
                        self._store(client, batch)
            elif any(self._skipped_since_log.values()):
                self._log_skipped_summary()
            opened = client.socket_opened_at
            unanswered = opened is not None and time.monotonic() - opened > V5_ANSWER_SECONDS
            if self._v5 and not self._v5_accepted and unanswered:
                self._fall_back_to_311(f"no answer to an MQTT 5 CONNECT within {V5_ANSWER_SECONDS:g}s")

    def _next_batch(self) -> list[Message]:
        """The flush policy: whatever has arrived (up to ``MAX_BATCH``), at once. Messages that
        arrive while a batch is being stored make up the next one, so batches grow with the load
        by themselves and an idle connector stores a lone message without waiting. A configured
        ``producer.linger`` lets the batch wait for more, at most that long, and only while more
        keep coming: once none has arrived for ``IDLE_GAP`` the batch is stored."""
        batch = self._inbox.take(MAX_BATCH, TAKE_TIMEOUT)
        if not batch or self._linger <= 0:
            return batch
        deadline = time.monotonic() + self._linger
        while len(batch) < MAX_BATCH:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = self._inbox.take(MAX_BATCH - len(batch), min(left, IDLE_GAP))
            if not more:
                break  # the flow paused: nothing more to wait for
            batch += more
        return batch

    def _store(self, client: StoreFirstClient | None, batch: Sequence[Message]) -> None:
        """Store ``batch`` as records, then acknowledge its messages (when ``client`` is given)."""
        fmt = self._formatter.format
        values: list[tuple[bytes | None, bytes]] = []
        acks: list[tuple[int, int, int]] = []
        redelivered = invalid = too_large = 0
        largest = self.ctx.producer.max_record_bytes
        for generation, mid, qos, topic, payload, dup in batch:
            if isinstance(payload, int):  # left out by the client: larger than max-message-size
                too_large += 1
                self._skipped("too_large", f"message on {topic!r} ({payload} bytes) not stored: larger than "
                              f"max-message-size ({self.settings.max_message_size} bytes)")
            else:
                try:
                    record = fmt(topic, payload)
                except InvalidJsonPayload as exc:
                    invalid += 1
                    self._skipped("invalid_json", f"message on {topic!r} ({len(payload)} bytes) not stored: {exc}")
                else:
                    if len(record) > largest:  # it would fail every store: its outcome is decided here
                        too_large += 1
                        self._skipped("too_large", f"message on {topic!r} ({len(payload)} bytes) not stored: its "
                                      f"record ({len(record)} bytes) is larger than the topic stores ({largest})")
                    else:
                        values.append((None, record))
                    del record
            if qos:
                acks.append((generation, mid, qos))
            redelivered += dup
        if values:
            self.ctx.producer.send_many(values)
            self.ctx.producer.flush()
        counters = {"messages": len(batch)}
        if redelivered:
            counters["redelivered"] = redelivered
        if invalid:
            counters["invalid_json"] = invalid
        if too_large:
            counters["too_large"] = too_large
        self.ctx.produced(len(values), counters)
        if acks and client is not None:
            self._acknowledge(client, acks)

    def _acknowledge(self, client: StoreFirstClient, acks: list[tuple[int, int, int]]) -> None:
        # Under the lock the connection cannot change between the generation check and queueing
        # the ack: on_disconnect (which runs before paho reconnects and drops queued packets) waits.
        with self._ack_lock:
            current = self._generation
            client.ack_many([(mid, qos) for generation, mid, qos in acks if generation == current])

    def _skipped(self, counter: str, message: str) -> None:
        """A message not stored, ``counter`` saying why (``invalid_json``, ``too_large``): the last
        error, and a warning (further ones of a kind are summed up every minute)."""
        total = self.ctx.counter(counter) + 1
        self.ctx.error(message)
        now = time.monotonic()
        if now - self._skip_logged_at.get(counter, -INVALID_JSON_LOG_INTERVAL) >= INVALID_JSON_LOG_INTERVAL:
            self._skip_logged_at[counter] = now
            self._skipped_since_log[counter] = 0
            log.warning("%s (%s %d; further ones are summed up every %gs)", message, counter, total,
                        INVALID_JSON_LOG_INTERVAL)
        else:
            self._skipped_since_log[counter] = self._skipped_since_log.get(counter, 0) + 1

    def _log_skipped_summary(self) -> None:
        for counter, count in list(self._skipped_since_log.items()):
            if not count or time.monotonic() - self._skip_logged_at[counter] < INVALID_JSON_LOG_INTERVAL:
                continue
            why = "were not valid JSON" if counter == "invalid_json" else "were too large"
            log.warning("%d more messages %s and not stored (%s %d)", count, why, counter, self.ctx.counter(counter))
            self._skipped_since_log[counter] = 0
            self._skip_logged_at[counter] = time.monotonic()

    # ---- the client

    def _start_client(self) -> StoreFirstClient:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from fluvio_connectors.mqtt_client import StoreFirstClient, paho, tls_context  # paho's client: see there

        s = self.settings
        protocol = paho.MQTTv5 if self._v5 else paho.MQTTv311
        client_id = self._client_id = s.client_id_for(s.replica)
        client = StoreFirstClient(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            clean_session=None if self._v5 else not s.persistent,
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.endpoint.tls:
            client.tls_set_context(tls_context(s.ca_cert, s.client_cert, s.client_key))
        client.reconnect_delay_set(min_delay=1, max_delay=s.timeout)
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            client.enable_logger(logging.getLogger("fluvio_connectors.mqtt.paho"))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_delivery = self._on_delivery
        client.max_payload = s.max_message_size
        self._closing = False
        self._inbox = Inbox(INBOX_CAPACITY)
        self._client = client
        kwargs: dict[str, Any] = {}
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.ReceiveMaximum = RECEIVE_MAXIMUM
            # The broker drops a PUBLISH larger than this for us instead of sending it (MQTT 5,
            # 3.1.4): room for the longest topic beside the largest payload taken.
            properties.MaximumPacketSize = min(s.max_message_size + PUBLISH_HEADROOM, MAX_MQTT_PACKET)
            if s.persistent:
                properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
            kwargs = {"clean_start": not s.persistent, "properties": properties}
        replica = f"replica {s.replica} of {s.replicas}, " if s.replicas > 1 else ""
        log.info(
            "connecting to %s as client %s (%sMQTT %s, %s session)", s.endpoint.redacted, client_id, replica,
            "5" if self._v5 else "3.1.1", "persistent" if s.persistent else "clean",
        )
        client.connect_async(s.endpoint.host, s.endpoint.port, keepalive=s.timeout, **kwargs)
        client.loop_start()
        return client

    def _stop_client(self, client: StoreFirstClient, *, store_leftovers: bool) -> None:
        """Store and acknowledge what has arrived, then disconnect (the session stays)."""
        with self._store_lock:
            self._closing = True  # from here on the network thread only hands over
        if store_leftovers:
            # What is in the inbox now; a flood that keeps coming must not delay the stop.
            left = len(self._inbox)
            deadline = time.monotonic() + DRAIN_SECONDS
            while left > 0 and time.monotonic() < deadline and (batch := self._inbox.take(min(left, MAX_BATCH), 0)):
                self._store(client, batch)
                left -= len(batch)
        self._inbox.close()
        client.disconnect()  # queued after the acks: they reach the broker first
        client.loop_stop()
        if store_leftovers:
            # Arrived while disconnecting: qos 0 would be lost, so store it; qos >= 1 was not
            # acknowledged and the broker delivers it again.
            rest = [m for m in self._inbox.take(INBOX_CAPACITY, 0) if m[2] == 0]
            if rest:
                self._store(None, rest)

    # ---- paho callbacks (network thread)

    def _on_connect(self, client: Any, _userdata: Any, flags: Any, reason_code: Any, props: Any) -> None:
        s = self.settings
        client.socket_opened_at = None
        if reason_code.is_failure:
            self._connect_refused(client, reason_code)
            return
        if s.replicas > 1 and getattr(props, "SharedSubscriptionAvailable", 1) == 0:
            self._fatal = (f"the broker {s.endpoint.redacted} does not offer shared subscriptions, which {s.replicas} "
                           "replicas need to split the stream; create the connector with one replica")
            client.disconnect()
            return
        self._v5_accepted = self._v5
        with self._ack_lock:
            self._generation += 1
            client.delivery_tag = self._generation  # messages of this connection carry it
        self._connections += 1
        self._failed_attempts = 0
        if self._connections > 1:
            self.ctx.count("reconnects")
        session_present = bool(flags.session_present)
        if s.persistent and self._connected_as == self._client_id and not session_present:
            log.warning("the broker has no session for client %s any more: messages published while the "
                        "connector was disconnected are not delivered", self._client_id)
        self._connected_as = self._client_id
        log.info("connected to %s (session present: %s)", s.endpoint.redacted,
                 "yes" if session_present else "no")
        if session_present and self._subscribed_filters == s.filters:
            # The session kept our subscriptions; subscribing again would resend retained messages.
            self._ready()
            return
        client.subscribe(self._subscriptions())

    def _subscriptions(self) -> list[tuple[str, Any]]:
        qos = self.settings.qos
        if not self._v5:
            return [(f, qos) for f in self.settings.filters]
        from paho.mqtt.subscribeoptions import SubscribeOptions

        # Retained messages only for a new subscription: a restart does not duplicate them.
        options = SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        return [(f, options) for f in self.settings.filters]

    def _connect_refused(self, client: Any, reason_code: Any) -> None:
        s = self.settings
        value = int(reason_code.value)
        if value == _UNSUPPORTED_PROTOCOL and self._v5 and not self._v5_accepted:
            self._fall_back_to_311("it refused the protocol version")
        elif value in _FATAL_REFUSALS:
            self._fatal = f"the broker {s.endpoint.redacted} refused the connection: {_FATAL_REFUSALS[value]}"
            client.disconnect()
        else:
            reason = f"the broker {s.endpoint.redacted} refused the connection: {reason_code}"
            log.warning("%s; retrying", reason)
            self.ctx.reconnecting(reason)

    def _fall_back_to_311(self, why: str) -> None:
        s = self.settings
        if s.replicas > 1:  # MQTT 3.1.1 has no shared subscriptions: every replica would get everything
            self._fatal = (f"the broker {s.endpoint.redacted} does not speak MQTT 5 ({why}), and {s.replicas} "
                           "replicas split the stream with MQTT 5 shared subscriptions; create the connector "
                           "with one replica")
            return
        log.info("%s does not speak MQTT 5 (%s); switching to MQTT 3.1.1", s.endpoint.redacted, why)
        self._switch_protocol = True  # the writer stops this client and starts an MQTT 3.1.1 one

    def _on_subscribe(
        self, client: Any, _userdata: Any, _mid: int, reason_codes: list[Any], _props: Any
    ) -> None:
        s = self.settings
        refused = [(f, str(rc)) for f, rc in zip(s.filters, reason_codes, strict=False) if rc.is_failure]
        if refused:
            names = ", ".join(f"{f!r} ({why})" for f, why in refused)
            self._fatal = f"the broker {s.endpoint.redacted} refused the subscription to {names}"
            client.disconnect()
            return
        for topic_filter, rc in zip(s.filters, reason_codes, strict=False):
            if int(rc.value) < s.qos:
                log.warning("the broker granted qos %d instead of %d for %r: messages on it can be lost",
                            int(rc.value), s.qos, topic_filter)
        self._subscribed_filters = s.filters
        self._ready()

    def _ready(self) -> None:
        s = self.settings
        log.info("subscribed to %s at qos %d; producing to topic %s", ", ".join(repr(f) for f in s.filters),
                 s.qos, self.ctx.config.topic)
        self.ctx.ready()

    def _on_connect_fail(self, client: Any, _userdata: Any) -> None:
        self._failed_attempts += 1
        error = getattr(client, "last_connect_error", None)
        why = (error.strerror or str(error)) if isinstance(error, OSError) else "connection failed"
        reason = f"cannot connect to {self.settings.endpoint.redacted}: {why}"
        log.warning("%s (attempt %d); next attempt in %gs", reason, self._failed_attempts,
                    client.next_reconnect_delay())
        self.ctx.reconnecting(reason)

    def _on_disconnect(self, client: Any, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        with self._ack_lock:
            self._generation += 1
            client.delivery_tag = self._generation
        if self._closing or self._fatal or self._switch_protocol:
            return
        if self._v5 and not self._v5_accepted and client.socket_opened_at is not None:
            self._fall_back_to_311(f"it closed the connection before answering: {reason_code}")
            return
        reason = f"lost the connection to {self.settings.endpoint.redacted}: {reason_code}"
        log.warning("%s; next attempt in %gs (backoff up to %ds)", reason, client.next_reconnect_delay(),
                    self.settings.timeout)
        self.ctx.reconnecting(reason)

    def _on_delivery(self, messages: list[Message]) -> None:
        # An idle writer (nothing in the inbox, no batch being stored) would only be woken to
        # store these: the network thread stores them itself, one thread hand-off (and one wait
        # for a CPU on a busy machine) less. Otherwise they join the inbox, behind what is there.
        if self._direct and not self._closing and not self._inbox and self._store_lock.acquire(blocking=False):
            try:
                if not self._inbox:
                    self._store(self._client, messages)
                    return
            except Exception as exc:  # the writer stores them again, and reports a lasting failure
                log.debug("storing from the network thread failed (%s); handing over to the writer", exc)
            finally:
                self._store_lock.release()
        self._inbox.put_many(messages)


def consume_mqtt(ctx: ConnectorContext) -> None:
    """The body of the MQTT connector (see the module docstring)."""
    MqttSource(ctx, MqttSettings.from_config(ctx.config, ctx.replicas, ctx.replica)).run()


def count_mqtt_records(connector: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """The records among ``records`` that an MQTT connector wrote (for the status after a restart)."""
    return sum(1 for _key, value in records if value.startswith(RECORD_PREFIX))


PROGRAM = Program(connector_type=MQTT, body=consume_mqtt, batch_size=MAX_BATCH,
                  own_records=count_mqtt_records, resume_first=False)

if __name__ == "__main__":
    main(PROGRAM)
