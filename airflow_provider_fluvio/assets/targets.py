"""Asset URIs of what a sink writes to: the pure rule, with no Airflow and no connection.

* a PostgreSQL table: ``postgres://HOST:PORT/DATABASE/SCHEMA/TABLE``, the scheme of Airflow's
  Postgres provider (its URI handler accepts exactly this shape). The schema is the mapping's
  ``schema.table`` prefix, else the first schema of a ``search_path`` in the URL's ``options``,
  else ``public``; the port defaults to 5432, the host to ``localhost`` (libpq's Unix socket);
* a SQLite table: ``sqlite://localhost/ABSOLUTE/PATH/FILE.db/TABLE``: the file's path with the
  table as the last segment (Airflow's SQLite provider registers no asset scheme). ``localhost``
  because the file is local to the machine the sink runs on, as the embedded log's topics are
  (and because Airflow's URI normalisation turns an empty host, ``sqlite:///...``, into ``sqlite:/...``).
  A relative path names no URI: it is relative to wherever the sink runs;
* an HTTP endpoint: its URL without credentials, query or fragment.

Never a credential: the URIs are shown in Airflow's UI and sent to lineage backends. None where the
target cannot be named (a sink without a json-sql mapping writes to the table each record names).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from fluvio_connectors.endpoints import join_host_port

if TYPE_CHECKING:
    from fluvio_connectors.config import ConnectorConfig
    from fluvio_connectors.sink_catalog import SqlTarget

POSTGRES_SCHEME = "postgres"  # what Airflow's Postgres provider normalises postgresql:// to
POSTGRES_PORT = 5432
DEFAULT_SCHEMA = "public"
_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([^\s]+)")


def sink_target_uris(config: ConnectorConfig) -> list[str]:
    """The asset URIs a sink ``config`` (loaded, secrets resolved) writes to; [] for a source."""
    if config.direction != "sink":
        return []
    params: Any = config.parameters
    target: SqlTarget | None = getattr(params, "target", None)
    if target is not None:
        mapping = getattr(params, "mapping", None)
        uri = sql_table_uri(target, mapping.table) if mapping is not None else None
        return [uri] if uri else []
    endpoint = getattr(params, "endpoint", None)
    if isinstance(endpoint, str):
        uri = http_endpoint_uri(endpoint)
        return [uri] if uri else []
    return []


def sql_table_uri(target: SqlTarget, table: str) -> str | None:
    """The asset URI of ``table`` (``name`` or ``schema.name``) in the database ``target`` names."""
    parts = table.split(".")
    if target.kind == "sqlite":
        path = target.path
        if path is None or not path.is_absolute():
            return None
        return f"sqlite://localhost{quote(str(path))}/{quote(table, safe='')}"
    database = target.database or target.user  # libpq's default database is the user's name
    if not database:
        return None
    schema, name = (parts[0], parts[1]) if len(parts) == 2 else (_search_path_schema(target.url), parts[-1])
    host = join_host_port(target.host or "localhost", target.port or POSTGRES_PORT)
    segments = "/".join(quote(segment, safe="") for segment in (database, schema, name))
    return f"{POSTGRES_SCHEME}://{host}/{segments}"


def http_endpoint_uri(endpoint: str) -> str | None:
    """``endpoint`` without user info, query and fragment (they may carry tokens)."""
    try:
        parts = urlsplit(endpoint.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    netloc = join_host_port(host, port) if port else (f"[{host}]" if ":" in host else host)
    return f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}"


def _search_path_schema(url: str) -> str:
    """The first schema of ``options=-csearch_path=...`` in a libpq URL (``$user`` passed over)."""
    try:
        options = parse_qs(urlsplit(url).query).get("options", [])
    except ValueError:
        return DEFAULT_SCHEMA
    for option in options:
        match = _SEARCH_PATH.search(option)
        if match:
            for schema in match.group(1).split(","):
                schema = schema.strip().strip('"')
                if schema and schema != "$user":
                    return schema
    return DEFAULT_SCHEMA


__all__ = ["http_endpoint_uri", "sink_target_uris", "sql_table_uri"]
