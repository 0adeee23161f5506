"""The Connectors app in this process, as the API server mounts it, with a real Airflow auth manager.

``ui_app`` gives a ``UiApp``: the app mounted at ``/fluvio`` of a bare FastAPI (what the API
server does with the plugin's ``fastapi_apps``), an HTTP client for it, and tokens of users whose
rights are a table (``GRANTS``: per user, per connection, which methods), decided by an auth
manager Airflow initializes (``TableAuthManager``, a SimpleAuthManager that reads the table).
Tokens are real JWTs the auth manager signs and Airflow's API code checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runtimes"))
from runtime_testing import wait_until  # the tests' one poll-with-a-deadline

# user -> connection id ("*": any) -> the methods the auth manager allows
GRANTS: dict[str, dict[str, set[str]]] = {
    "admin": {"*": {"GET", "POST", "PUT", "DELETE"}},
    "reader": {"*": {"GET"}},
    "nobody": {},
    "b-editor": {"fluvio_b": {"GET", "PUT"}},
}


class TableAuthManager(SimpleAuthManager):
    """A SimpleAuthManager whose connection rights are ``GRANTS`` (a real auth manager decides
    per connection; the SimpleAuthManager only by role)."""

    def is_authorized_connection(self, *, method: Any, user: Any, details: Any = None) -> bool:
        grants = GRANTS.get(user.get_name(), {})
        conn_id = details.conn_id if details else None
        return method in grants.get(conn_id or "", grants.get("*", set()))


@dataclass
class UiApp:
    """The app under test: ``client`` (no credentials of its own), tokens and headers per user."""

    client: Any
    tokens: dict[str, str]

    def bearer(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def cookie(self, user: str) -> dict[str, str]:
        return {"_token": self.tokens[user]}

    def get(self, path: str, user: str | None = None, **kwargs: Any) -> Any:
        headers = {**(self.bearer(user) if user else {}), **kwargs.pop("headers", {})}
        return self.client.get(f"/fluvio{path}", headers=headers, **kwargs)

    def post(self, path: str, body: Any, user: str | None = None, **kwargs: Any) -> Any:
        headers = {**(self.bearer(user) if user else {}), **kwargs.pop("headers", {})}
        return self.client.post(f"/fluvio{path}", json=body, headers=headers, **kwargs)

    def delete(self, path: str, user: str | None = None, **kwargs: Any) -> Any:
        headers = {**(self.bearer(user) if user else {}), **kwargs.pop("headers", {})}
        return self.client.delete(f"/fluvio{path}", headers=headers, **kwargs)

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
        return wait_until(check, timeout, what)


@contextlib.contextmanager
def airflow_auth(manager: str, users: Mapping[str, str]) -> Iterator[Any]:
    """Airflow's auth manager ``manager`` (dotted path) initialized in this process with ``users``
    (name -> SimpleAuthManager role); the previous settings and auth manager are restored after."""
    from airflow.api_fastapi import app as api_app

    directory = tempfile.mkdtemp(prefix="fluvio-ui-auth-")
    passwords = os.path.join(directory, "passwords.json")
    with open(passwords, "w") as handle:
        json.dump({user: f"pw-{user}" for user in users}, handle)
    settings = {
        "AIRFLOW__CORE__AUTH_MANAGER": manager,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": passwords,
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(48).hex(),
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        _forget_auth_manager()
        yield api_app.init_auth_manager()
    finally:
        _forget_auth_manager()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _forget_auth_manager() -> None:
    """Drop the auth manager and the JWT signers and validator Airflow keeps for the process (made
    with the JWT secret of their time; the next ``airflow_auth`` has another)."""
    from airflow.api_fastapi import app as api_app
    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager

    api_app.purge_cached_app()
    BaseAuthManager._get_token_signer.cache_clear()  # type: ignore[attr-defined]
    BaseAuthManager._get_token_validator.cache_clear()  # type: ignore[attr-defined]


def ensure_airflow_db() -> None:
    """The metadata database's tables (created when missing; an existing database is kept)."""
    from airflow import settings
    from airflow.utils import db
    from sqlalchemy import inspect

    if not inspect(settings.engine).has_table("connection"):
        db.resetdb()
