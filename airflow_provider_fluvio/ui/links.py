"""Where a connector's page is, and the extra link that opens it from a task instance.

Imported by the operators and the sensor at DAG-parse time: the standard library and the SDK's
``BaseOperatorLink`` only. Airflow 3 runs ``get_link`` on the worker when the task finishes (the
operator is rendered and ``execute`` has run) and keeps the URL in XCom, so the link of a create
task names the connector its config created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.providers.common.compat.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

# The plugin's FastAPI app is mounted here on the API server, and the Connectors view is
# ``/plugin/<UI_ROUTE>`` in Airflow's UI (an iframe whose path follows the browser's URL).
URL_PREFIX = "/fluvio"
UI_ROUTE = "fluvio-connectors"
LINK_NAME = "Fluvio connector"


def connector_page_path(conn_id: str, name: str) -> str:
    """The connector page's path below the app (``connectors/NAME?conn=ID``), for relative links."""
    return f"connectors/{quote(name, safe='')}?{urlencode({'conn': conn_id})}"


def connector_ui_url(base_url: str, conn_id: str, name: str) -> str:
    """The connector page inside Airflow's UI for an API server at ``base_url`` (``[api] base_url``;
    empty: a path from the site's root, which the UI opens on its own origin)."""
    base = base_url.rstrip("/")
    root = urlsplit(base).path if "://" in base else base
    return f"{base}/plugin/{UI_ROUTE}{root}{URL_PREFIX}/{connector_page_path(conn_id, name)}"


class FluvioConnectorLink(BaseOperatorLink):
    """Opens the page of the connector a create, delete or sensor task worked on.

    The task needs ``fluvio_conn_id`` and ``connector_name`` (the create operator sets the name
    from its config when it runs); without a name the link is empty and the UI hides it.
    """

    name = LINK_NAME

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        connector = getattr(operator, "connector_name", None)
        conn_id = getattr(operator, "fluvio_conn_id", None)
        if not isinstance(connector, str) or not connector or not isinstance(conn_id, str):
            return ""
        return connector_ui_url(_api_base_url(), conn_id, connector)


def _api_base_url() -> str:
    from airflow.providers.common.compat.sdk import conf

    value: Any = conf.get("api", "base_url", fallback="")
    return str(value or "")
