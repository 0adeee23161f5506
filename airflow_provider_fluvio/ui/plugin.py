"""``FluvioPlugin``: the Connectors view in Airflow's navigation, its pages and the task extra link.

Registered through the ``airflow.plugins`` entry point (and listed under ``plugins`` in the
provider info), so installing the provider is enough: no file goes into ``plugins/``. Every Airflow
component imports this module, so it imports no FastAPI and no hook: the app mounted on the API
server is built on its first request (``ui/app.py``).
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.providers.common.compat.sdk import AirflowPlugin

from airflow_provider_fluvio.ui.links import UI_ROUTE, URL_PREFIX, FluvioConnectorLink

Scope = dict[str, Any]


class LazyApp:
    """An ASGI app that builds the Connectors app (``ui.app.create_app``) on its first request."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _built(self) -> Any:
        with self._lock:
            if self._app is None:
                from airflow_provider_fluvio.ui.app import create_app

                self._app = create_app()
            return self._app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        app = self._app if self._app is not None else self._built()
        await app(scope, receive, send)


class FluvioPlugin(AirflowPlugin):
    """Connectors of every readable ``fluvio`` connection: list, pages, create, delete, links."""

    name = "fluvio"
    fastapi_apps = [{"name": "Fluvio connectors", "app": LazyApp(), "url_prefix": URL_PREFIX}]
    external_views = [
        {
            "name": "Connectors",
            # Relative: the UI resolves it against its base URL (an API server below a path works).
            "href": f"{URL_PREFIX.lstrip('/')}/connectors",
            "destination": "nav",
            "nav_top_level": True,  # beside Dags and Assets, not in the Plugins menu
            "icon": f"{URL_PREFIX.lstrip('/')}/static/icon.svg",
            "url_route": UI_ROUTE,
        }
    ]
    operator_extra_links = [FluvioConnectorLink()]


def _entry_point_target() -> type[FluvioPlugin] | None:
    # Airflow also loads the plugins that providers list in their info, but only when it discovers
    # providers eagerly ([core] lazy_discover_providers = False); the plugin registered twice would
    # show as a plugin import error, so the entry point then gives nothing.
    from airflow import settings

    return FluvioPlugin if getattr(settings, "LAZY_LOAD_PROVIDERS", True) else None


# What the ``airflow.plugins`` entry point names.
entry_point_plugin = _entry_point_target()
