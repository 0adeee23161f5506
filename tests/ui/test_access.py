"""Who may see and do what on the Connectors app: every endpoint asks Airflow's auth manager.

No session: 401 from every route, pages and static files included, and nothing of any connector in
the answer. Reading needs GET on the connection the request names, creating and deleting need PUT
(edit); writes take a bearer token only, so a browser's cookie alone cannot create or delete (CSRF).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from ui_testing import UiApp

from airflow_provider_fluvio.runtimes.local import LocalRuntime

SECRET_NAME = "hidden-connector"  # a connector whose very name must not reach an unauthorized caller
CONFIG = f"name: {SECRET_NAME}\ntype: test-connector\ntopic: {SECRET_NAME}\ncreate_topic: true\nparameters:\n  timeout: 1000\n"


def _every_route(app: UiApp) -> list[tuple[str, str]]:
    """(method, path) of every route of the app, with a connector name in its path parameters."""
    from airflow_provider_fluvio.ui.app import create_app

    routes = []
    for route in create_app().routes:
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or ()):
            if method == "HEAD":
                continue
            routes.append((method, path.replace("{name}", SECRET_NAME).replace("{filename}", "connectors.js")))
    return routes


@pytest.fixture
def hidden(ui_app: UiApp) -> str:
    answer = ui_app.post("/api/connectors", {"config": CONFIG}, "admin")
    assert answer.status_code == 201, answer.text
    return SECRET_NAME


def _call(app: UiApp, method: str, path: str, **kwargs: Any) -> Any:
    return app.client.request(method, f"/fluvio{path}", json={"config": CONFIG} if method == "POST" else None, **kwargs)


def test_every_endpoint_refuses_a_caller_without_a_session(ui_app: UiApp, hidden: str) -> None:
    routes = _every_route(ui_app)
    assert {path for _, path in routes} >= {
        "/connectors", f"/connectors/{hidden}", "/static/connectors.js", "/api/connections", "/api/token",
        "/api/connectors", f"/api/connectors/{hidden}", f"/api/connectors/{hidden}/logs", f"/api/connectors/{hidden}/records",
    }
    for method, path in routes:
        for credentials in ({}, {"headers": {"Authorization": "Bearer not-a-jwt"}}, {"cookies": {"_token": "not-a-jwt"}}):
            answer = _call(ui_app, method, f"{path}?conn=fluvio_default", **credentials)
            assert answer.status_code in (401, 403), (method, path, credentials, answer.status_code)
            text = re.sub(r'href="[^"]*"', "", answer.text)  # a page's sign-in link returns to the URL asked for
            assert hidden not in text and "Hello, Fluvio" not in text, (method, path, answer.text)
    assert [c.name for c in LocalRuntime().list()] == [hidden]  # nothing was created or deleted


def test_an_expired_token_is_refused(ui_app: UiApp) -> None:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    expired = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="viewer"), expiration_time_in_seconds=-60)
    answer = ui_app.get("/api/connections", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401, answer.text


def test_a_reader_sees_the_connectors_but_may_not_create_or_delete(ui_app: UiApp, hidden: str) -> None:
    assert ui_app.get("/api/connections", "reader").json() == {"connections": [{"id": "fluvio_default", "can_edit": False}]}
    listed = ui_app.get("/api/connectors?conn=fluvio_default", "reader").json()
    assert [row["name"] for row in listed["connectors"]] == [hidden]
    assert ui_app.get(f"/api/connectors/{hidden}", "reader").status_code == 200

    create = ui_app.post("/api/connectors", {"config": CONFIG.replace(hidden, "readers-own")}, "reader")
    assert create.status_code == 403 and "may not edit the connection 'fluvio_default'" in create.json()["detail"]
    dry_run = ui_app.post("/api/connectors", {"config": CONFIG, "dry_run": True}, "reader")
    assert dry_run.status_code == 403
    delete = ui_app.delete(f"/api/connectors/{hidden}", "reader")
    assert delete.status_code == 403
    assert [c.name for c in LocalRuntime().list()] == [hidden]


def test_a_user_without_read_access_gets_nothing(ui_app: UiApp, hidden: str) -> None:
    assert ui_app.get("/api/connections", "nobody").json() == {"connections": []}
    for path in ("/api/connectors", f"/api/connectors/{hidden}", f"/api/connectors/{hidden}/logs",
                 f"/api/connectors/{hidden}/records", f"/connectors/{hidden}"):
        answer = ui_app.get(f"{path}?conn=fluvio_default", "nobody")
        assert answer.status_code == 403, (path, answer.text)
        assert hidden not in answer.text.replace(f"/connectors/{hidden}", "")
    # Whether a connection exists is not told either: the same answer as for one that does.
    assert ui_app.get("/api/connectors?conn=no_such_conn", "nobody").status_code == 403


def test_rights_are_per_connection(ui_app: UiApp, monkeypatch: pytest.MonkeyPatch, fluvio_home: Any, tmp_path: Any) -> None:
    """b-editor may read and edit fluvio_b only: fluvio_default is not even listed for them."""
    import json

    b_home = tmp_path / "b-home"
    monkeypatch.setenv("AIRFLOW_CONN_FLUVIO_B", json.dumps({"conn_type": "fluvio", "extra": {"state_dir": str(b_home)}}))
    assert ui_app.get("/api/connections", "b-editor").json() == {"connections": [{"id": "fluvio_b", "can_edit": True}]}
    assert ui_app.get("/api/connectors?conn=fluvio_default", "b-editor").status_code == 403
    created = ui_app.post("/api/connectors?conn=fluvio_b", {"config": CONFIG.replace(SECRET_NAME, "on-b")}, "b-editor")
    assert created.status_code == 201, created.text
    assert ui_app.post("/api/connectors?conn=fluvio_default", {"config": CONFIG}, "b-editor").status_code == 403
    listed = ui_app.get("/api/connectors?conn=fluvio_b", "b-editor").json()
    assert [row["name"] for row in listed["connectors"]] == ["on-b"]
    assert str(b_home) in listed["where"]
    assert ui_app.delete("/api/connectors/on-b?conn=fluvio_b", "b-editor").status_code == 200
    assert LocalRuntime().list() == []  # fluvio_default's state directory never got it


def test_writes_refuse_the_cookie_alone(ui_app: UiApp, hidden: str) -> None:
    """A page of another site can make the browser send its Airflow cookie, never a header: a
    write with the admin's cookie and no bearer token changes nothing."""
    cookie = ui_app.cookie("admin")
    create = ui_app.client.post("/fluvio/api/connectors", json={"config": CONFIG.replace(SECRET_NAME, "csrf")}, cookies=cookie)
    assert create.status_code == 401 and "Authorization: Bearer" in create.json()["detail"]
    form = ui_app.client.post("/fluvio/api/connectors", data={"config": CONFIG}, cookies=cookie)
    assert form.status_code == 401
    delete = ui_app.client.delete(f"/fluvio/api/connectors/{hidden}", cookies=cookie)
    assert delete.status_code == 401
    assert [c.name for c in LocalRuntime().list()] == [hidden]
    # Reads with the cookie work (the page's own requests).
    assert ui_app.client.get("/fluvio/api/connectors", cookies=cookie).status_code == 200


def test_the_page_gets_a_write_token_for_its_user_only_with_its_header(ui_app: UiApp) -> None:
    cookie = ui_app.cookie("reader")
    plain = ui_app.client.get("/fluvio/api/token", cookies=cookie)
    assert plain.status_code == 403 and "token" not in plain.json()
    answer = ui_app.client.get("/fluvio/api/token", cookies=cookie, headers={"X-Fluvio-Page": "1"})
    assert answer.status_code == 200
    token = answer.json()["token"]
    # It is the reader's token: reading works, creating is still forbidden.
    assert ui_app.get("/api/connections", headers={"Authorization": f"Bearer {token}"}).json()["connections"][0]["can_edit"] is False
    refused = ui_app.post("/api/connectors", {"config": CONFIG}, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403


def test_pages_need_a_session_and_read_access(ui_app: UiApp, hidden: str) -> None:
    anonymous = ui_app.get("/connectors")
    assert anonymous.status_code == 401 and "Sign in" in anonymous.text
    page = ui_app.client.get("/fluvio/connectors", cookies=ui_app.cookie("nobody"))
    assert page.status_code == 200  # the shell only: its script finds no connection to read
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert ui_app.client.get(f"/fluvio/connectors/{hidden}", cookies=ui_app.cookie("nobody")).status_code == 403
    own = ui_app.client.get(f"/fluvio/connectors/{hidden}?conn=fluvio_default", cookies=ui_app.cookie("reader"))
    assert own.status_code == 200 and f'data-name="{hidden}"' in own.text
