"""A sql-sink's database from an Airflow connection: the ``postgres`` or ``sqlite`` connection a
DAG's SQL operators use becomes the sink's ``SQL_URL`` secret, so the sink writes where the DAG's
checks read (``url: ${{ secrets.SQL_URL }}`` in the config; the create operator's ``sql_conn_id``).

``postgres``  host (default localhost; a directory is libpq's Unix socket), port (5432), login,
              password, schema (the database, as Airflow's Postgres provider reads it) and the
              libpq options of its extra (``LIBPQ_OPTIONS``)
              -> ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE?...``
``sqlite``    the file Airflow's SQLite provider opens for the connection, which must be an
              absolute path (the sink runs in another directory than the task) -> ``sqlite:///PATH``

The password is masked in task logs; only the database's address stays readable.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from airflow.providers.common.compat.sdk import BaseHook

from fluvio_connectors.endpoints import join_host_port
from fluvio_connectors.errors import ConfigError

SQL_URL_SECRET = "SQL_URL"
# Extras of Airflow's Postgres connection that are libpq connection parameters the sink can use.
LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options",
                 "target_session_attrs", "application_name", "keepalives", "keepalives_idle")


def sql_url_from_connection(conn_id: str) -> str:
    """The sink URL of the Airflow connection ``conn_id``; ``ConfigError`` (naming the connection and
    what is expected) for a type or a field the sink cannot use."""
    conn = BaseHook.get_connection(conn_id)
    from airflow.providers.common.compat.sdk import mask_secret

    if conn.password:
        mask_secret(conn.password)
    return sql_url(conn)


def sql_url(conn: Any) -> str:
    """The sink URL of a ``postgres`` or ``sqlite`` connection object."""
    kind = (conn.conn_type or "").lower()
    if kind in ("postgres", "postgresql"):
        return _postgres_url(conn)
    if kind == "sqlite":
        return _sqlite_url(conn)
    raise ConfigError(f"connection {conn.conn_id}: a {conn.conn_type or 'typeless'} connection cannot be a "
                      "sql-sink's database; expected a postgres or sqlite connection")


def _postgres_url(conn: Any) -> str:
    extra = conn.extra_dejson
    if extra.get("iam"):
        raise ConfigError(f"connection {conn.conn_id}: IAM authentication (extra iam) gives no password the "
                          "sink could use; expected a connection with login and password")
    userinfo = quote(conn.login or "", safe="") + (":" + quote(conn.password, safe="") if conn.password else "")
    userinfo += "@" if userinfo else ""
    query = {key: str(extra[key]) for key in LIBPQ_OPTIONS if extra.get(key) not in (None, "")}
    host = (conn.host or "localhost").strip().strip("[]")
    port = int(conn.port or 5432)
    if host.startswith("/"):  # a Unix socket directory: libpq takes it as the host parameter
        netloc, query = f":{port}", {"host": host, **query}
    else:
        netloc = join_host_port(host, port)
    url = f"postgresql://{userinfo}{netloc}/{quote(conn.schema or '', safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


def _sqlite_url(conn: Any) -> str:
    # The file Airflow's SQLite provider opens: its hook turns the connection's URI into
    # ``sqlite:///...`` and then into the ``file:`` URI it hands to sqlite3.
    uri = unquote(conn.get_uri()).replace("/?", "?").replace("sqlite://", "sqlite:///").replace("sqlite:///", "file:")
    parts = urlsplit(uri)
    path = unquote(parts.path)
    expected = "expected the absolute path of the database file, e.g. sqlite:///var/data/readings.db"
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(f"connection {conn.conn_id}: SQLite cannot open {uri!r} (an authority in the file URI); "
                          f"{expected}")
    if not path.startswith("/"):
        raise ConfigError(f"connection {conn.conn_id}: the SQLite file {path or '(none)'!r} is not an absolute path "
                          f"(the sink runs in another directory than this task); {expected}")
    return f"sqlite://{path}"


__all__ = ["LIBPQ_OPTIONS", "SQL_URL_SECRET", "sql_url", "sql_url_from_connection"]
