"""Reaching the Kubernetes API: where the cluster config comes from, and API errors as one line.

The config is resolved as Airflow's ``KubernetesHook`` does: ``in_cluster``, or ``kube_config_path``
(with ``cluster_context``), or ``kube_config`` (the config itself, a dict or YAML/JSON text), at
most one of them; with none, the in-cluster config when running in a pod, else the default kube
config (``KUBECONFIG`` or ``~/.kube/config``) with ``cluster_context``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fluvio_connectors.errors import BackendError, ConfigError


def check_one_source(*, in_cluster: bool | None, kube_config_path: str | None,
                     kube_config: dict[str, Any] | str | None) -> None:
    """Two config sources are a usage mistake, not a precedence to guess."""
    explicit = [k for k, v in (("in_cluster", in_cluster), ("kube_config_path", kube_config_path),
                               ("kube_config", kube_config)) if v]
    if len(explicit) > 1:
        raise ConfigError(
            f"kubernetes runtime: {' and '.join(explicit)} were both given; use only one of "
            "in_cluster, kube_config_path, kube_config"
        )


def load_api_client(*, in_cluster: bool, kube_config_path: str | None,
                    kube_config: dict[str, Any] | str | None, cluster_context: str | None) -> Any:
    """An ``ApiClient`` for the config the arguments choose (see the module's resolution order)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        elif kube_config_path:
            _require_file(kube_config_path, "kube config file")
            config.load_kube_config(config_file=os.path.expanduser(kube_config_path),
                                    context=cluster_context, client_configuration=configuration,
                                    persist_config=False)
        elif kube_config:
            config.load_kube_config_from_dict(_kube_config_dict(kube_config), context=cluster_context,
                                              client_configuration=configuration, persist_config=False)
        else:
            _load_default(configuration, cluster_context)
    except config.ConfigException as exc:
        raise BackendError(f"cannot load the Kubernetes configuration: {exc}") from None
    except OSError as exc:
        raise BackendError(f"cannot read the Kubernetes configuration: {exc}") from None
    return client.ApiClient(configuration=configuration)


def _load_default(configuration: Any, cluster_context: str | None) -> None:
    from kubernetes import config

    if os.environ.get("KUBERNETES_SERVICE_HOST") and not cluster_context:
        try:
            config.load_incluster_config(client_configuration=configuration)
            return
        except config.ConfigException:
            pass  # a pod without a service account token: fall back to a kube config file
    # KUBECONFIG is read now, not when the kubernetes package was imported.
    path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    _require_file(path, "kube config file (KUBECONFIG, else ~/.kube/config)")
    config.load_kube_config(config_file=path, context=cluster_context,
                            client_configuration=configuration, persist_config=False)


def _kube_config_dict(value: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    import yaml

    try:
        parsed = yaml.safe_load(value)  # JSON is YAML too
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ConfigError("kubernetes runtime: kube_config must be a kube config as a mapping, YAML or JSON")
    return parsed


def _require_file(path: str, what: str) -> None:
    """A kube config that is not there is a usage mistake: say which file, not the client's riddle."""
    if os.pathsep not in path and not os.path.isfile(os.path.expanduser(path)):
        raise ConfigError(f"kubernetes runtime: {what} {path} does not exist; expected a kubeconfig file")


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an API error, ``None`` for anything else (e.g. a refused connection)."""
    from kubernetes.client.exceptions import ApiException

    return exc.status if isinstance(exc, ApiException) else None


def backend_error(what: str, exc: BaseException, namespace: str) -> BackendError:
    """One line saying which call failed, where, and the API server's own message."""
    code = status_code(exc)
    if code is not None:
        return BackendError(f"Kubernetes API, {what} in namespace {namespace}: {code} "
                            f"{getattr(exc, 'reason', '') or ''}: {_api_message(exc)}".rstrip(": "))
    if isinstance(exc, BackendError):
        return exc
    return BackendError(f"cannot reach the Kubernetes API ({what}): {type(exc).__name__}: {exc}")


def _api_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message") or body)
        except (ValueError, AttributeError):
            return str(body)[:300]
    return str(getattr(exc, "reason", "") or exc)
