"""The Connectors app the API server mounts at ``/fluvio``: two pages and the JSON API they poll.

Pages (HTML, the browser's cookie): ``connectors`` (every readable ``fluvio`` connection, a table
of its connectors each) and ``connectors/NAME?conn=ID`` (one connector: status, config, throughput,
logs, records). They are a template and one script (``static/``, no CDN: nothing remote is loaded);
the script draws everything from the API and polls it.

API (JSON, ``api/...``): ``connections``, ``connectors?conn=ID`` (list; POST creates),
``connectors/NAME?conn=ID`` (one; DELETE deletes), ``.../logs``, ``.../records``, ``token`` (a
short-lived bearer token for the page's writes). Who may do what: ``ui/auth.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_fluvio import DEFAULT_CONN_ID
from airflow_provider_fluvio.ui import auth
from airflow_provider_fluvio.ui.auth import UserDep, WriterDep
from airflow_provider_fluvio.ui.links import UI_ROUTE
from airflow_provider_fluvio.ui.service import LOG_LINES, ConnectorService, NotFound, Unavailable
from fluvio_connectors.catalog import is_secret_name
from fluvio_connectors.config_files import MAX_FILE_BYTES, MAX_FILE_TEXT
from fluvio_connectors.errors import (
    ConfigError,
    ConnectorExistsError,
    ConnectorNotFoundError,
    FluvioConnectorError,
    TopicMissingError,
)
from fluvio_connectors.messages import Redactor, one_line
from fluvio_connectors.names import check_connector_name
from fluvio_connectors.replicas import check_replicas

log = logging.getLogger(__name__)

# A create request: the config (at most 1 MiB of UTF-8, as a file), escaped in JSON (at most six
# characters per character), plus a few secrets (a PEM certificate is a few KiB).
MAX_SECRETS = 16
MAX_SECRET_CHARS = 16 * 1024
MAX_BODY_BYTES = 6 * (MAX_FILE_BYTES + MAX_SECRETS * MAX_SECRET_CHARS) + 4096
MAX_CONN_ID_CHARS = 250
TOO_LARGE = f"larger than {MAX_FILE_TEXT}; expected a YAML config of at most {MAX_FILE_TEXT}"
STATIC_FILES = {"connectors.js": "text/javascript", "connectors.css": "text/css", "icon.svg": "image/svg+xml"}
# Pages load only their own script, style and icon; only Airflow's own pages may frame them.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'none'; base-uri 'self'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def create_app(service: ConnectorService | None = None) -> FastAPI:
    """The app (``service``: the connectors it shows; a new one by default)."""
    service = service or ConnectorService()
    app = FastAPI(title="Fluvio connectors", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    app.include_router(_pages())
    app.include_router(_api(service), prefix="/api")
    app.add_exception_handler(StarletteHTTPException, _http_error)
    return app


# ---------------------------------------------------------------------- pages


def _pages() -> APIRouter:
    router = APIRouter()

    @router.get("/connectors", response_class=HTMLResponse)
    async def connectors_page(request: Request, user: UserDep) -> Response:
        return _page(request, "list", {"conn": None, "name": None})

    @router.get("/connectors/{name}", response_class=HTMLResponse)
    async def connector_page(request: Request, user: UserDep, name: str, conn: str = DEFAULT_CONN_ID) -> Response:
        name, conn = _checked_name(name), _checked_conn_id(conn)
        await _require(user, conn, "read")
        return _page(request, "connector", {"conn": conn, "name": name})

    @router.get("/static/{filename}")
    async def static(filename: str, user: UserDep) -> Response:
        if filename not in STATIC_FILES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
        headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
        return Response(_static(filename), media_type=STATIC_FILES[filename], headers=headers)

    return router


def _page(request: Request, kind: str, params: dict[str, str | None]) -> Response:
    """The page shell: the script fills it from the API (``data-*`` say what to load)."""
    from markupsafe import escape

    base = request.scope.get("root_path", "").rstrip("/") + "/"
    attributes = {"page": kind, "conn": params["conn"], "name": params["name"], "ui-route": UI_ROUTE,
                  "max-config": str(MAX_FILE_BYTES), "max-config-text": MAX_FILE_TEXT,
                  "page-header": auth.PAGE_HEADER, "log-lines": str(LOG_LINES)}
    data = " ".join(f'data-{key}="{escape(value)}"' for key, value in attributes.items() if value is not None)
    title = f"Connector {params['name']}" if params["name"] else "Connectors"
    html = _template().replace("{{BASE}}", str(escape(base))).replace("{{TITLE}}", str(escape(title)))
    return HTMLResponse(html.replace("{{DATA}}", data), headers=PAGE_HEADERS)


@cache
def _template() -> str:
    return (resources.files("airflow_provider_fluvio.ui") / "templates" / "page.html").read_text(encoding="utf-8")


@cache
def _static(filename: str) -> bytes:
    return (resources.files("airflow_provider_fluvio.ui") / "static" / filename).read_bytes()


# ---------------------------------------------------------------------- API


def _api(service: ConnectorService) -> APIRouter:
    router = APIRouter()

    @router.get("/connections")
    async def connections(user: UserDep) -> JSONResponse:
        ids = await service.call("listing the fluvio connections", service.connection_ids)
        readable = []
        for conn_id in ids:
            if await service.call("checking access", auth.may, user, conn_id, "read"):
                can_edit = await service.call("checking access", auth.may, user, conn_id, "edit")
                readable.append({"id": conn_id, "can_edit": can_edit})
        return _json({"connections": readable})

    @router.get("/token")
    async def token(request: Request, user: UserDep) -> JSONResponse:
        auth.check_page_request(request)
        return _json({"token": auth.write_token(user), "expires_in": auth.WRITE_TOKEN_SECONDS})

    @router.get("/connectors")
    async def list_connectors(user: UserDep, conn: str = DEFAULT_CONN_ID) -> JSONResponse:
        conn = _checked_conn_id(conn)
        await _require(user, conn, "read")
        return _json(await _answer(service, f"listing the connectors of {conn}", service.connectors, conn))

    @router.post("/connectors")
    async def create_connector(request: Request, user: WriterDep, conn: str = DEFAULT_CONN_ID) -> JSONResponse:
        conn = _checked_conn_id(conn)
        await _require(user, conn, "edit")
        body = await _create_body(request)
        hide = body["secrets"].values()  # no error message may repeat a secret the request gave
        if body["dry_run"]:
            result = await _answer(service, "validating the config", service.validate, body["config"], body["secrets"],
                                   hide=hide)
            return _json(result)
        result = await _answer(service, f"creating the connector on {conn}", service.create, conn, body["config"],
                               body["secrets"], body["replicas"], hide=hide)
        log.info("connector %s created on %s from the Connectors page by %s", result["connector"]["name"], conn,
                 user.get_name())
        return _json(result, status.HTTP_201_CREATED)

    @router.get("/connectors/{name}")
    async def get_connector(user: UserDep, name: str, conn: str = DEFAULT_CONN_ID, config: bool = False) -> JSONResponse:
        name, conn = _checked_name(name), _checked_conn_id(conn)
        await _require(user, conn, "read")
        result = await _answer(service, f"reading connector {name}", service.connector, conn, name)
        if not config:
            result.pop("config", None)
        return _json(result)

    @router.delete("/connectors/{name}")
    async def delete_connector(user: WriterDep, name: str, conn: str = DEFAULT_CONN_ID) -> JSONResponse:
        name, conn = _checked_name(name), _checked_conn_id(conn)
        await _require(user, conn, "edit")
        result = await _answer(service, f"deleting connector {name}", service.delete, conn, name)
        log.info("connector %s deleted on %s from the Connectors page by %s", name, conn, user.get_name())
        return _json(result)

    @router.get("/connectors/{name}/logs")
    async def connector_logs(
        user: UserDep, name: str, conn: str = DEFAULT_CONN_ID,
        tail: Annotated[int, Query(ge=1, le=LOG_LINES)] = 200,
    ) -> JSONResponse:
        name, conn = _checked_name(name), _checked_conn_id(conn)
        await _require(user, conn, "read")
        return _json(await _answer(service, f"reading the log of {name}", service.logs, conn, name, tail))

    @router.get("/connectors/{name}/records")
    async def connector_records(user: UserDep, name: str, conn: str = DEFAULT_CONN_ID) -> JSONResponse:
        name, conn = _checked_name(name), _checked_conn_id(conn)
        await _require(user, conn, "read")
        return _json(await _answer(service, f"reading the topic of {name}", service.records, conn, name))

    return router


async def _require(user: Any, conn_id: str, access: auth.Access) -> None:
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(auth.require, user, conn_id, access)


async def _answer(
    service: ConnectorService, what: str, action: Callable[..., Any], *args: Any, hide: Iterable[str] = ()
) -> Any:
    """``action`` on the service's pool, its errors as HTTP answers of one line (``hide``: values
    masked in them)."""
    try:
        return await _call(service, what, action, *args)
    except HTTPException as exc:
        redact = Redactor(hide)
        if redact and isinstance(exc.detail, str):
            exc.detail = redact(exc.detail)
        raise


async def _call(service: ConnectorService, what: str, action: Callable[..., Any], *args: Any) -> Any:
    """``action`` on the service's pool; each error of the project's family as its status and line."""
    try:
        return await service.call(what, action, *args)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ConnectorNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, one_line(str(exc))) from None
    except ConnectorExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, one_line(str(exc))) from None
    except (ConfigError, TopicMissingError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, one_line(str(exc))) from None
    except Unavailable as exc:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, str(exc)) from None
    except FluvioConnectorError as exc:  # the runtime or topics backend failed: its one line
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"{what}: {one_line(str(exc))}") from None
    except HTTPException:
        raise
    except Exception:
        # Anything else may hold what a browser must not see: the details go to the API server's log.
        log.exception("Connectors page: %s failed", what)
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR, f"{what} failed; the API server's log has the details"
        ) from None


async def _create_body(request: Request) -> dict[str, Any]:
    """The create request, checked: ``config`` (text), ``secrets`` (NAME -> value), ``replicas``,
    ``dry_run``. 413 past ``MAX_BODY_BYTES`` (read no further), 400 for anything malformed."""
    too_large = HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"config: {TOO_LARGE}")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise too_large
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise too_large
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _bad('expected a JSON object {"config": "<YAML>", ...}')
    unknown = sorted(set(body) - {"config", "secrets", "replicas", "dry_run"})
    if unknown:
        raise _bad(f"unknown field(s) {', '.join(map(repr, unknown))[:200]}; expected config, secrets, replicas, dry_run")
    config = body.get("config")
    if not isinstance(config, str) or not config.strip():
        raise _bad("config: expected the YAML text of a connector config")
    try:
        replicas = check_replicas(body.get("replicas", 1))
    except ConfigError as exc:
        raise _bad(one_line(str(exc))) from None
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise _bad("dry_run: expected true or false")
    return {"config": config, "secrets": _secrets(body.get("secrets")), "replicas": replicas, "dry_run": dry_run}


def _secrets(value: Any) -> dict[str, str]:
    """Secret values for the config (never echoed, not even in an error)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_SECRETS:
        raise _bad(f"secrets: expected at most {MAX_SECRETS} NAME: value pairs")
    out: dict[str, str] = {}
    for name, secret in value.items():
        if not isinstance(name, str) or not is_secret_name(name) or len(name) > 128:
            shown = one_line(repr(name), 80)
            raise _bad(f"secrets: {shown} is not a secret name; expected letters, digits and _ (e.g. MQTT_PASSWORD)")
        if not isinstance(secret, str) or len(secret) > MAX_SECRET_CHARS or "\x00" in secret:
            raise _bad(f"secrets: the value of {name} must be text of at most {MAX_SECRET_CHARS // 1024} KiB")
        out[name] = secret
    return out


def _checked_name(name: str) -> str:
    try:
        return check_connector_name(name)
    except ConfigError as exc:
        raise _bad(one_line(str(exc))) from None


def _checked_conn_id(conn_id: str) -> str:
    """A connection id as Airflow allows them (letters, digits and ``_#!().:/\\-``, at most 250)."""
    from airflow.models.connection import sanitize_conn_id

    if len(conn_id) > MAX_CONN_ID_CHARS or sanitize_conn_id(conn_id) != conn_id:
        raise _bad(f"conn: {one_line(repr(conn_id), 80)} is not a connection id")
    return conn_id


def _bad(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


def _json(content: Any, status_code: int = status.HTTP_200_OK) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=API_HEADERS)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Errors as ``{"detail": "..."}`` for the API; a page says it in a line (401: where to sign in)."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(getattr(exc, "headers", None) or {})
    if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers={**API_HEADERS, **headers})
    from markupsafe import escape

    link = auth.login_url(request) if exc.status_code == status.HTTP_401_UNAUTHORIZED else None
    sign_in = f' <a href="{escape(link)}" target="_top">Sign in</a>' if link else ""
    body = f"<!doctype html><title>{exc.status_code}</title><p>{escape(str(exc.detail))}.{sign_in}</p>"
    return HTMLResponse(body, status_code=exc.status_code, headers={**PAGE_HEADERS, **headers})
