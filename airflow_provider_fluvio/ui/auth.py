"""Who asks, and what they may do: every endpoint of the Connectors app goes through here.

Plugin endpoints are not protected by Airflow on their own. A request is authenticated exactly as
Airflow's own API authenticates it (``Authorization: Bearer <JWT>``, else the ``_token`` cookie
the UI holds), and authorized by the auth manager against the ``fluvio`` connection it uses:
reading needs ``GET`` on the connection, creating and deleting connectors need ``PUT`` (edit).

Writes take a bearer token only, never the cookie, so another site cannot make a signed-in
browser create or delete a connector (CSRF): the page asks ``GET api/token`` (cookie, and a
header a cross-site form or ``<script>`` cannot send) for a short-lived token of its user.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails
from airflow.api_fastapi.core_api.security import get_user, resolve_user_from_token
from airflow.configuration import conf
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

Access = Literal["read", "edit"]
METHODS: dict[Access, Literal["GET", "PUT"]] = {"read": "GET", "edit": "PUT"}
# The header the page sends with ``GET api/token``: a cross-site request cannot carry it without
# a CORS preflight, which this app never answers.
PAGE_HEADER = "X-Fluvio-Page"
# How long a token for the page's writes lives; the page asks again when one is refused.
WRITE_TOKEN_SECONDS = 600

_bearer = HTTPBearer(auto_error=False)


async def bearer_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> BaseUser:
    """The user of an ``Authorization: Bearer`` token; a cookie alone is refused (writes)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this request changes connectors, so it needs an 'Authorization: Bearer <token>' header "
            "(the Connectors page sends one; API clients get one from POST /auth/token)",
        )
    return await resolve_user_from_token(credentials.credentials)


# Reads: the signed-in user (bearer token, else the UI's cookie) exactly as Airflow's API sees
# them; 401 without a session, 403 for a token Airflow does not accept.
UserDep = Annotated[BaseUser, Depends(get_user)]
WriterDep = Annotated[BaseUser, Depends(bearer_user)]


def may(user: BaseUser, conn_id: str, access: Access) -> bool:
    """Whether ``user`` may ``access`` the connection ``conn_id`` (blocking: call off the event loop)."""
    details = ConnectionDetails(conn_id=conn_id, team_name=_team_of(conn_id))
    return bool(get_auth_manager().is_authorized_connection(method=METHODS[access], details=details, user=user))


def require(user: BaseUser, conn_id: str, access: Access) -> None:
    """403 unless ``user`` may ``access`` ``conn_id``; says nothing about whether it exists."""
    if not may(user, conn_id, access):
        what = "read" if access == "read" else "edit"
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not {what} the connection {conn_id!r}")


def write_token(user: BaseUser) -> str:
    """A short-lived JWT of ``user`` for the page's writes."""
    manager: Any = get_auth_manager()
    return str(manager.generate_jwt(user, expiration_time_in_seconds=WRITE_TOKEN_SECONDS))


def check_page_request(request: Request) -> None:
    """403 for a request without the page's header (see ``PAGE_HEADER``)."""
    if request.headers.get(PAGE_HEADER) != "1":
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this endpoint answers the Connectors page only ({PAGE_HEADER})")


def login_url(request: Request) -> str | None:
    """Where the auth manager signs users in (None when it cannot say)."""
    try:
        return str(get_auth_manager().get_url_login(next_url=str(request.url)))
    except Exception:  # an auth manager that cannot build one: the page shows no link
        return None


def _team_of(conn_id: str) -> str | None:
    """The connection's team in a multi-team deployment (None otherwise)."""
    if not conf.getboolean("core", "multi_team", fallback=False):
        return None
    from airflow.models.connection import Connection

    return Connection.get_team_name(conn_id)
