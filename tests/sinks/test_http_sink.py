"""The HTTP sink against a real receiver that fails on demand: every record arrives, repeats carry
an Idempotency-Key already seen, Retry-After is honoured, a permanent refusal stops the sink at its
record (or is skipped), and nothing waits forever."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from http_receiver import Answer, Received, Receiver
from sink_fixtures import create_sink, produce, wait_status, wait_until

from airflow_provider_fluvio.cli.connector_cmds import wait_until_started
from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.errors import FluvioConnectorError
from fluvio_connectors.topics import open_topics

QUICK = {"http-timeout": "1s", "http-connect-timeout": "1s", "backoff-min": "10ms", "backoff-max": "100ms"}


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(plan: Any = None) -> Receiver:
        made = Receiver(plan).start()
        started.append(made)
        return made

    yield start
    for made in started:
        made.stop()


def http_config(name: str, topic: str, endpoint: str, **parameters: Any) -> dict[str, Any]:
    return {"version": "latest", "name": name, "type": "http-sink", "topic": topic, "create_topic": True,
            "parameters": {"endpoint": endpoint, "headers": ["Content-Type: application/json"], **QUICK, **parameters}}


def key(topic: str, offset: int) -> str:
    return f'"{topic}:0:{offset}"'


def assert_each_record_once_by_key(received: list[Received], topic: str, bodies: list[bytes]) -> None:
    """Every record was answered 2xx; every request of a key carried that record's body."""
    expected = {key(topic, offset): body for offset, body in enumerate(bodies)}
    assert {r.key for r in received if r.delivered} == set(expected)
    for request in received:
        assert request.key in expected and request.body == expected[request.key], request


def test_every_record_arrives_though_the_receiver_fails_one_request_in_three_and_hangs_once(
        runtime: LocalRuntime, receiver: Callable[..., Receiver], topics_backend: str, topic_name: Any) -> None:
    def plan(number: int, request: Received) -> Answer:
        if number == 7:
            return Answer(hang=3.0)  # longer than http-timeout: the sink gives up on it and retries
        if number == 11:
            return Answer(close=True)
        return Answer(status=500 if number % 3 == 0 else 200)

    target = receiver(plan)
    topic = topic_name("hooks")
    bodies = [json.dumps({"n": i}).encode() for i in range(60)]
    produce(topic, bodies[:30])
    name = create_sink(runtime, http_config("hook-sink", topic, target.url))
    wait_until(lambda: len({r.key for r in target.delivered()}) >= 20, 60, "20 records delivered")
    # killed mid-stream: the records since its last stored position are sent again, with their keys
    state = sv.read_state(runtime.root / name)
    assert state is not None and state.program_pid
    os.kill(state.program_pid, signal.SIGKILL)
    produce(topic, bodies[30:])
    wait_until(lambda: len({r.key for r in target.delivered()}) == 60, 90, "every record delivered")

    received = target.snapshot()
    assert_each_record_once_by_key(received, topic, bodies)
    assert {r.answer for r in received} >= {"200", "500", "hang", "close"}
    assert all(r.method == "POST" and r.headers["content-type"] == "application/json" for r in received)
    # in order: the first delivery of each record follows the offsets (one request in flight)
    first = [r.key for r in received if r.delivered]
    order = list(dict.fromkeys(first))
    assert order == [key(topic, i) for i in range(60)]
    info = wait_until(lambda: (i := runtime.status(name)).lag == 0 and i.position == 60 and i, 30, "lag 0")
    assert (info.status.value, info.direction) == ("Running", "sink")


def test_retry_after_is_honoured(runtime: LocalRuntime, receiver: Callable[..., Receiver]) -> None:
    target = receiver(lambda number, request: Answer(status=429, headers={"Retry-After": "1"}) if number == 1
                      else Answer(status=503, headers={"Retry-After": "0"}) if number == 2 else Answer())
    produce("polite", [b"a", b"b"])
    create_sink(runtime, http_config("polite", "polite", target.url))
    wait_until(lambda: len(target.delivered()) == 2, 60, "both records")
    first, second, *_ = target.snapshot()
    assert first.key == second.key == key("polite", 0)
    assert second.at - first.at >= 0.95  # it waited the second the receiver asked for


def test_a_permanent_refusal_fails_the_sink_at_its_record_then_skip_passes_it(
        runtime: LocalRuntime, receiver: Callable[..., Receiver]) -> None:
    def plan(number: int, request: Received) -> Answer:
        if request.body == b"bad":
            return Answer(status=422, body=b'{"error": "bad payload"}')
        return Answer(status=201)

    target = receiver(plan)
    produce("strict", [b"ok-0", b"ok-1", b"bad", b"ok-3"])
    config = http_config("strict", "strict", target.url)
    create_sink(runtime, config)
    info = wait_status(runtime, "strict", "Failed")
    assert info.reason is not None and info.reason.startswith(
        "record at offset 2 of topic strict: the receiver refused it: HTTP 422 Unprocessable Entity: "
        '{"error": "bad payload"}; the sink stopped at it')
    assert [r.body for r in target.delivered()] == [b"ok-0", b"ok-1"]
    assert len([r for r in target.snapshot() if r.body == b"bad"]) == 1  # a permanent answer is not retried
    topics = open_topics()
    try:
        wait_until(lambda: topics.consumer_position("strict", "strict") == 2, 30, "the position on the record")
    finally:
        topics.close()

    runtime.delete("strict")
    config["parameters"]["on-error"] = "skip"
    create_sink(runtime, config)
    wait_until(lambda: [r.body for r in target.delivered()][-1:] == [b"ok-3"], 60, "the record after it")
    assert any("skipped the record at offset 2: the receiver refused it: HTTP 422" in line
               for line in runtime.logs("strict"))
    wait_until(lambda: runtime.status("strict").counters.get("skipped") == 1, 30, "skipped counted")


def test_the_cdk_config_headers_from_secrets_method_and_user_agent(runtime: LocalRuntime,
                                                                   receiver: Callable[..., Receiver]) -> None:
    from fluvio_connectors.config import load_config

    token = "tok-9f8e7d6c5b"
    target = receiver()
    produce("cdk-hooks", [b'{"hello": "world"}'])
    config = load_config(
        "apiVersion: 0.1.0\n"
        "meta: {version: 0.1.0, name: my-http-sink, type: http-sink, topic: cdk-hooks, secrets: [{name: HTTP_TOKEN}]}\n"
        "http:\n"
        f"  endpoint: \"{target.url}\"\n"
        "  method: PUT\n"
        "  user-agent: my-agent/1.0\n"
        "  headers:\n"
        "    - \"Authorization: token ${{ secrets.HTTP_TOKEN }}\"\n"
        "    - \"Cache-Control: no-cache\"\n", secrets={"HTTP_TOKEN": token})
    runtime.create(config)
    (request,) = wait_until(lambda: target.delivered(), 60, "the request")
    assert (request.method, request.body) == ("PUT", b'{"hello": "world"}')
    assert request.headers["authorization"] == f"token {token}"
    assert request.headers["cache-control"] == "no-cache" and request.headers["user-agent"] == "my-agent/1.0"
    assert request.headers["idempotency-key"] == key("cdk-hooks", 0)
    assert "content-type" not in request.headers or request.headers["content-type"] != "text/html"  # headers given
    for text in [*runtime.logs("my-http-sink"), (runtime.root / "my-http-sink" / "config.yaml").read_text()]:
        assert token not in text


def test_a_literal_credential_header_is_kept_out_of_the_stored_config(runtime: LocalRuntime,
                                                                      receiver: Callable[..., Receiver]) -> None:
    target = receiver()
    produce("literal", [b"x"])
    create_sink(runtime, http_config("literal", "literal", target.url, headers=["X-Api-Key: k3y-v4lue-123"]))
    (request,) = wait_until(lambda: target.delivered(), 60, "the request")
    assert request.headers["x-api-key"] == "k3y-v4lue-123"
    assert "k3y-v4lue-123" not in (runtime.root / "literal" / "config.yaml").read_text()


def test_several_requests_in_flight_and_the_position_moves_over_delivered_ones_only(
        runtime: LocalRuntime, receiver: Callable[..., Receiver]) -> None:
    target = receiver(lambda number, request: Answer(status=502) if number % 5 == 0 else Answer())
    bodies = [f"r{i}".encode() for i in range(200)]
    produce("parallel", bodies)
    create_sink(runtime, http_config("parallel", "parallel", target.url, **{"max-in-flight": 8}))
    wait_until(lambda: len({r.key for r in target.delivered()}) == 200, 90, "200 records")
    assert_each_record_once_by_key(target.snapshot(), "parallel", bodies)
    wait_until(lambda: runtime.status("parallel").position == 200, 30, "the position at the end")


def test_an_unreachable_receiver_is_pending_with_the_reason_and_a_wait_gives_up(runtime: LocalRuntime) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    produce("void", [b"x"])
    create_sink(runtime, http_config("void", "void", f"http://127.0.0.1:{port}/in"))
    info = wait_until(lambda: (i := runtime.status("void")).status.value == "Pending" and i.reason
                      and "ConnectError" in i.reason and i, 60, "Pending with the reason")
    assert info.reason.startswith(f"reconnecting: sending the record at offset 0 to http://127.0.0.1:{port}/in: ")
    with pytest.raises(FluvioConnectorError, match="has been Pending for"):
        wait_until_started(runtime, "void", 60, pending_timeout=0.5)
    started = time.monotonic()
    runtime.delete("void")  # a sink retrying stops at once
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(("status", "is_permanent"), [(200, False), (204, False), (408, False), (429, False),
                                                      (500, False), (503, False), (301, True), (400, True),
                                                      (401, True), (404, True), (413, True), (422, True)])
def test_which_answers_are_retried(status: int, is_permanent: bool) -> None:
    from fluvio_connectors.http_sink import permanent

    assert permanent(status) is is_permanent


def test_retry_after_in_seconds_or_as_a_date() -> None:
    import email.utils

    import httpx

    from fluvio_connectors.http_sink import retry_after

    def answer(value: str | None) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value} if value is not None else {})

    assert retry_after(answer("7")) == 7.0
    assert retry_after(answer(None)) is None and retry_after(answer("soon")) is None
    in_a_minute = retry_after(answer(email.utils.formatdate(time.time() + 60, usegmt=True)))
    assert in_a_minute is not None and 55 < in_a_minute <= 60
    assert retry_after(answer(email.utils.formatdate(time.time() - 60, usegmt=True))) == 0.0
