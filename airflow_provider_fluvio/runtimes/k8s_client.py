"""Reaching the Kubernetes API: where the cluster config comes from, every call bounded in time
with its transient failures retried, and API errors as one line.

The config is resolved as Airflow's ``KubernetesHook`` does: ``in_cluster``, or ``kube_config_path``
(with ``cluster_context``), or ``kube_config`` (the config itself, a dict or YAML/JSON text), at
most one of them; with none, the in-cluster config when running in a pod, else the default kube
config (``KUBECONFIG`` or ``~/.kube/config``) with ``cluster_context``.

The generated client waits forever for an API server that accepts and never answers. ``BoundedApi``
wraps an API object (``AppsV1Api``, ``CoreV1Api``) so that every call has ``_request_timeout``
(``CONNECT_TIMEOUT`` to connect, the runtime's ``request_timeout`` for the answer) and is tried
again, after ``RETRY_DELAYS``, when it failed in a way that leaves nothing half done: a refused or
timed-out connection (the request was never sent), 429 Too Many Requests (the server did not
handle it), and, for reads and the replica patch (the same request twice does the same), a 5xx or
a connection reset. A call that got no answer within its timeout is not tried again: the server is
there and silent, and the caller hears so after one timeout. Following a log (``follow=True``) is
an open-ended stream: only its connection is bounded.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

from fluvio_connectors.errors import BackendError, ConfigError

CONNECT_TIMEOUT = 10.0
DEFAULT_REQUEST_TIMEOUT = 30.0
RETRY_DELAYS = (0.5, 1.0, 2.0)  # seconds before the 2nd, 3rd and 4th attempt
MAX_RETRY_AFTER = 10.0  # a 429's Retry-After is obeyed up to this
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# Calls that do the same when sent twice: retried after a 5xx or a reset connection too.
_REPEATABLE_PREFIXES = ("read_", "list_", "patch_")


class ApiTimeout(BackendError):
    """The API server did not answer within the call's timeout."""


CONFIG_SOURCES = ("in_cluster", "kube_config_path", "kube_config")


def check_one_source(*, in_cluster: bool | None, kube_config_path: str | None,
                     kube_config: dict[str, Any] | str | None, where: str = "kubernetes runtime") -> None:
    """At most one config source: two are a usage mistake, not a precedence to guess (the hook,
    the CLI and the runtime all ask here; ``where`` names the caller's input)."""
    given = dict(zip(CONFIG_SOURCES, (in_cluster, kube_config_path, kube_config), strict=True))
    explicit = [name for name, value in given.items() if value]
    if len(explicit) > 1:
        raise ConfigError(
            f"{where}: {' and '.join(explicit)} exclude each other; set only one of {', '.join(CONFIG_SOURCES)}"
        )


def load_api_client(*, in_cluster: bool, kube_config_path: str | None,
                    kube_config: dict[str, Any] | str | None, cluster_context: str | None) -> Any:
    """An ``ApiClient`` for the config the arguments choose (see the module's resolution order)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    configuration.retries = False  # BoundedApi retries, with backoff, what is safe to retry
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


class BoundedApi:
    """``api``'s methods with a timeout on every call and retries of transient failures (see the
    module docstring); attributes that are not methods pass through."""

    def __init__(self, api: Any, request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> None:
        self._api = api
        self.request_timeout = float(request_timeout)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._api, name)
        if name.startswith("_") or not callable(target):
            return target
        return functools.partial(self._call, target, name.startswith(_REPEATABLE_PREFIXES))

    def _call(self, method: Callable[..., Any], repeatable: bool, *args: Any, **kwargs: Any) -> Any:
        follow = bool(kwargs.get("follow"))
        read_timeout = None if follow else self.request_timeout
        kwargs.setdefault("_request_timeout", (min(CONNECT_TIMEOUT, self.request_timeout), read_timeout))
        for delay in (*RETRY_DELAYS, None):
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                wait = _retry_in(exc, repeatable, delay)
                if wait is None:
                    if _is_read_timeout(exc):
                        raise ApiTimeout(f"no answer within {self.request_timeout:g} s") from None
                    raise
            time.sleep(wait)
        raise AssertionError("unreachable")


def _retry_in(exc: BaseException, repeatable: bool, delay: float | None) -> float | None:
    """Seconds to wait before trying ``exc``'s call again, None when it must not be."""
    if delay is None:
        return None
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, ProtocolError

    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    code = status_code(exc)
    if code == 429:
        return min(max(delay, _retry_after(exc)), MAX_RETRY_AFTER)
    if isinstance(exc, ConnectTimeoutError):  # also a refused connection: nothing was sent
        return delay
    if repeatable and (code in TRANSIENT_STATUSES or isinstance(exc, ProtocolError)):
        return delay
    return None


def _retry_after(exc: BaseException) -> float:
    headers = getattr(exc, "headers", None) or {}
    try:
        return float(headers.get("Retry-After") or 0)
    except (TypeError, ValueError):
        return 0.0


def _is_read_timeout(exc: BaseException) -> bool:
    from urllib3.exceptions import MaxRetryError, ReadTimeoutError

    if isinstance(exc, MaxRetryError):
        exc = exc.reason or exc
    return isinstance(exc, ReadTimeoutError)


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
    if isinstance(exc, ApiTimeout):
        return BackendError(f"Kubernetes API, {what} in namespace {namespace}: {exc}")
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
