"""Where connectors run: ``local`` processes (default) or ``kubernetes`` Deployments.

``get_runtime`` is the one place that picks the adapter; nothing else branches on it.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime, ConnectorStatus
from fluvio_connectors.settings import RUNTIMES, Settings, runtime_kind


def get_runtime(kind: str | None = None, settings: Settings | None = None, **options: Any) -> ConnectorRuntime:
    """The runtime named ``kind`` (settings' default when None). ``options`` go to the adapter
    (for Kubernetes: namespace, kube_config_path, cluster_context, in_cluster, registry, ...)."""
    settings = settings or Settings.from_env()
    if runtime_kind(kind or settings.runtime or "local") == "local":
        from airflow_provider_fluvio.runtimes.local import LocalRuntime

        return LocalRuntime(settings, **options)
    from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime

    return KubernetesRuntime(settings, **options)


__all__ = ["RUNTIMES", "ConnectorInfo", "ConnectorRuntime", "ConnectorStatus", "get_runtime"]
