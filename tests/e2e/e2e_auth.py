"""The e2e deployment's auth manager: Airflow's SimpleAuthManager, with viewers who may read connections.

The SimpleAuthManager has no role that may read a connection without also editing it (only OP and
ADMIN see connections). A deployment gives its viewers exactly that with a real auth manager (FAB's
"can read on Connections"); this subclass does the same for the VIEWER role, so the tests can sign
in as someone who may see the Connectors page but not create or delete connectors. Everything else
(users, passwords, tokens, the login page) is the SimpleAuthManager's own.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager, SimpleAuthManagerRole


class ConnectionReadersAuthManager(SimpleAuthManager):
    """SimpleAuthManager where VIEWER may GET connections; writing them still needs OP."""

    def is_authorized_connection(self, *, method: Any, user: Any, details: Any = None) -> bool:
        return bool(self._is_authorized(
            method=method,
            allow_role=SimpleAuthManagerRole.OP,
            allow_get_role=SimpleAuthManagerRole.VIEWER,
            user=user,
            team_name=details.team_name if details else None,
        ))


AUTH_MANAGER = f"{__name__}.{ConnectionReadersAuthManager.__name__}"
