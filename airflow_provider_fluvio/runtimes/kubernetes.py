"""The Kubernetes runtime: each connector a Deployment (a StatefulSet when it has several
replicas), with a ConfigMap for its config and a Secret.

The objects and their labels are built in ``k8s_manifests``, their status read in ``k8s_status``,
the cluster config resolved in ``k8s_client``; this module runs the operations. An object this
provider did not label as its own is never replaced or deleted: a name clash is an error.

A connector that has finished (a finite ``count``) idles, still ready, instead of being restarted
and producing its records again: it shows ``Running`` and its log says it finished. An image whose
program exits 0 anyway shows ``Stopped`` (``Completed``).

The ``kubernetes`` package is imported only when a runtime builds objects or talks to a cluster,
so that importing the provider at DAG-parse time stays cheap.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime, ConnectorStatus, SinkPosition
from airflow_provider_fluvio.runtimes.k8s_client import (
    DEFAULT_REQUEST_TIMEOUT,
    ApiTimeout,
    BoundedApi,
    backend_error,
    check_one_source,
    load_api_client,
    status_code,
)
from airflow_provider_fluvio.runtimes.k8s_manifests import (
    CONFIG_KEY,
    CONTAINER,
    DEFAULT_RESOURCES,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    MANAGER,
    SELECTOR_ALL,
    build_config_map,
    build_deployment,
    build_secret,
    build_stateful_set,
    config_map_name,
    connector_image,
    image_pull_policy,
    is_ours,
    pod_environment,
    secret_name,
)
from airflow_provider_fluvio.runtimes.k8s_status import (
    connector_info,
    current_pods,
    deployment_status,
    halted_reason,
    sink_position,
    waiting_for_readiness,
)
from airflow_provider_fluvio.runtimes.replicas import merge_logs
from fluvio_connectors.config import DNS_LABEL, ConnectorConfig
from fluvio_connectors.endpoints import check_endpoint, check_registry
from fluvio_connectors.errors import (
    BackendError,
    ConfigError,
    ConnectorExistsError,
    ConnectorNotFoundError,
    FluvioConnectorError,
)
from fluvio_connectors.names import check_connector_name, check_image_tag
from fluvio_connectors.settings import Settings

if TYPE_CHECKING:
    from kubernetes.client import AppsV1Api, CoreV1Api, V1ConfigMap, V1Deployment, V1Pod, V1Secret

# Importable from here as before the manifests and the status mapping had modules of their own.
__all__ = ["KubernetesRuntime", "connector_info", "deployment_status", "image_pull_policy"]

T = TypeVar("T")

# The kinds a connector runs as, and the name the client's methods use for them.
WORKLOADS = {"Deployment": "deployment", "StatefulSet": "stateful_set"}


def _kind(workload: Any) -> str:
    from kubernetes import client

    return "StatefulSet" if isinstance(workload, client.V1StatefulSet) else "Deployment"


class KubernetesRuntime(ConnectorRuntime):
    """Connectors as Deployments in a Kubernetes namespace.

    Where the cluster config comes from (as Airflow's ``KubernetesHook``): ``in_cluster``, or
    ``kube_config_path`` (with ``cluster_context``), or ``kube_config`` (the config itself, a dict
    or YAML/JSON text), at most one of them; with none, the in-cluster config when running in a
    pod, else the default kube config (``KUBECONFIG`` or ``~/.kube/config``) with
    ``cluster_context``.

    :param namespace: namespace of the connectors (default ``default``).
    :param registry: image registry prefix, e.g. ``docker.io/myorg`` (default: none).
    :param image_tag: image tag for every connector instead of the config's ``version``.
    :param fluvio_endpoint: the Fluvio SC endpoint as the pods reach it (default: the settings').
    :param resources: container resources (``{"requests": {...}, "limits": {...}}``).
    :param service_account: service account of the pods (default: the namespace's default).
    :param host_network: run the pods on their node's network (``hostNetwork``), for a Fluvio
        cluster or a source that only the node reaches, e.g. on its loopback (default: off).
    :param request_timeout: seconds an API call may wait for the server's answer (a call that
        fails transiently is tried again, see ``k8s_client``).
    :param apps_api: an ``AppsV1Api`` to use instead of building one (tests).
    :param core_api: a ``CoreV1Api`` to use instead of building one (tests).
    """

    kind = "kubernetes"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        namespace: str | None = None,
        in_cluster: bool | None = None,
        kube_config_path: str | None = None,
        kube_config: dict[str, Any] | str | None = None,
        cluster_context: str | None = None,
        registry: str | None = None,
        image_tag: str | None = None,
        fluvio_endpoint: str | None = None,
        resources: dict[str, dict[str, str]] | None = None,
        service_account: str | None = None,
        host_network: bool = False,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        apps_api: AppsV1Api | None = None,
        core_api: CoreV1Api | None = None,
    ) -> None:
        super().__init__(settings)
        check_one_source(in_cluster=in_cluster, kube_config_path=kube_config_path, kube_config=kube_config)
        self.namespace = namespace or "default"
        if not DNS_LABEL.match(self.namespace):
            raise ConfigError(f"kubernetes runtime: {self.namespace!r} is not a valid namespace name")
        self.in_cluster = bool(in_cluster)
        self.kube_config_path = kube_config_path
        self.kube_config = kube_config
        self.cluster_context = cluster_context
        # What reaches the pod's image and environment is checked like the config's own fields.
        self.registry = None if registry is None else check_registry(registry)
        self.image_tag = None if image_tag is None else check_image_tag(str(image_tag))
        self.fluvio_endpoint = fluvio_endpoint or self.settings.fluvio_endpoint
        if self.fluvio_endpoint is not None:
            check_endpoint(self.fluvio_endpoint)
        self.resources = resources or DEFAULT_RESOURCES
        self.service_account = service_account
        self.host_network = bool(host_network)
        if not request_timeout > 0:
            raise ConfigError(f"kubernetes runtime: request_timeout must be a positive number of seconds, "
                              f"got {request_timeout!r}")
        self.request_timeout = float(request_timeout)
        self._apps: Any = None if apps_api is None else BoundedApi(apps_api, self.request_timeout)
        self._core: Any = None if core_api is None else BoundedApi(core_api, self.request_timeout)

    # ---- clients

    @property
    def apps(self) -> AppsV1Api:
        """The ``AppsV1Api``, built from the cluster config on first use."""
        if self._apps is None:
            from kubernetes import client

            api_client = load_api_client(in_cluster=self.in_cluster, kube_config_path=self.kube_config_path,
                                         kube_config=self.kube_config, cluster_context=self.cluster_context)
            self._apps = BoundedApi(client.AppsV1Api(api_client), self.request_timeout)
            self._core = self._core or BoundedApi(client.CoreV1Api(api_client), self.request_timeout)
        return self._apps  # type: ignore[no-any-return]

    @property
    def core(self) -> CoreV1Api:
        """The ``CoreV1Api``, sharing the ``AppsV1Api``'s client."""
        if self._core is None:
            from kubernetes import client

            self._core = BoundedApi(client.CoreV1Api(self.apps.api_client), self.request_timeout)
        return self._core  # type: ignore[no-any-return]

    def topics_backend(self) -> str:
        """The pods' topics: a Fluvio cluster when they are given its endpoint."""
        return "fluvio" if self.fluvio_endpoint else "embedded"

    # ---- manifests

    def image_for(self, config: ConnectorConfig) -> tuple[str, str]:
        """The image and its pull policy."""
        return connector_image(config, self.registry, self.image_tag)

    def pod_environment(self, start_offset: int = 0, replicas: int = 1) -> dict[str, str]:
        """Plain environment of the connector container (secrets come from the Secret)."""
        return pod_environment(self.fluvio_endpoint, start_offset, replicas)

    def build_deployment(self, config: ConnectorConfig, *, replicas: int = 1, start_offset: int = 0,
                         connector_replicas: int | None = None) -> V1Deployment:
        """The connector's Deployment (no owner: it owns the others) with ``replicas`` pods now;
        its pods continue from what the topic holds from ``start_offset`` on
        (``fluvio_connectors.resume``) and split the source between ``connector_replicas``
        (default: ``replicas``)."""
        image, pull_policy = self.image_for(config)
        split = replicas if connector_replicas is None else connector_replicas
        return build_deployment(config, namespace=self.namespace, image=image, pull_policy=pull_policy,
                                environment=self.pod_environment(start_offset, split), resources=self.resources,
                                service_account=self.service_account, replicas=replicas,
                                host_network=self.host_network)

    def build_config_map(self, config: ConnectorConfig, owner: V1Deployment) -> V1ConfigMap:
        """The connector's ConfigMap, owned by its Deployment."""
        return build_config_map(config, self.namespace, owner)

    def build_secret(self, config: ConnectorConfig, owner: V1Deployment) -> V1Secret:
        """The connector's Secret, owned by its Deployment."""
        return build_secret(config, self.namespace, owner)

    # ---- create

    def _check_runnable(self, config: ConnectorConfig) -> None:
        target = getattr(config.parameters, "target", None)
        if config.direction == "sink" and getattr(target, "kind", None) == "sqlite":
            raise ConfigError(
                f"connector {config.name}: a SQLite database is a file, and a pod's files go with the pod "
                "(its root filesystem is read-only): on the kubernetes runtime use postgresql://, or run "
                "this sink on the local runtime"
            )

    def _check_absent(self, name: str) -> None:
        for kind in WORKLOADS:
            workload = self._call(f"reading {kind} {name}", functools.partial(
                self._api(kind, "read"), name, self.namespace), missing=None)
            if workload is None:
                continue
            if not is_ours(workload):
                raise BackendError(f"a {kind} {name} not managed by {MANAGER} exists in namespace "
                                   f"{self.namespace}; choose another connector name")
            raise ConnectorExistsError(name)

    def _start(self, config: ConnectorConfig, start_offset: int, replicas: int = 1) -> ConnectorInfo:
        name, cm_name, secret = config.name, config_map_name(config.name), secret_name(config.name)
        # The workload first, with no replica: the ConfigMap and Secret it owns need its uid, and
        # its pods must not start (and fail on a missing Secret) before they exist. One replica: a
        # Deployment; several: a StatefulSet (a stable identity per replica).
        body: Any = self.build_deployment(config, replicas=0, start_offset=start_offset, connector_replicas=replicas)
        kind = "Deployment"
        if replicas > 1:
            kind, body = "StatefulSet", build_stateful_set(body, 0)
        try:
            created = self._api(kind, "create")(self.namespace, body)
        except Exception as exc:
            if status_code(exc) == 409:
                raise ConnectorExistsError(name) from None
            raise self._backend_error(f"creating {kind} {name}", exc) from None
        undo: list[tuple[str, Callable[[], Any]]] = [
            (f"{kind} {name}", lambda: self._remove_workload(kind, name))]
        try:
            self._create_owned(
                "ConfigMap", name, cm_name,
                create=lambda: self.core.create_namespaced_config_map(
                    self.namespace, self.build_config_map(config, created)),
                read=lambda: self.core.read_namespaced_config_map(cm_name, self.namespace),
                delete=lambda: self.core.delete_namespaced_config_map(cm_name, self.namespace),
            )
            undo.append((f"ConfigMap {cm_name}",
                         lambda: self.core.delete_namespaced_config_map(cm_name, self.namespace)))
            if config.secrets:
                self._create_owned(
                    "Secret", name, secret,
                    create=lambda: self.core.create_namespaced_secret(
                        self.namespace, self.build_secret(config, created)),
                    read=lambda: self.core.read_namespaced_secret(secret, self.namespace),
                    delete=lambda: self.core.delete_namespaced_secret(secret, self.namespace),
                )
                undo.append((f"Secret {secret}",
                             lambda: self.core.delete_namespaced_secret(secret, self.namespace)))
            self._call(f"scaling {kind} {name} to {replicas} replica{'s' if replicas > 1 else ''}",
                       lambda: self._api(kind, "patch")(name, self.namespace, {"spec": {"replicas": replicas}}))
        except BaseException as exc:
            # Nothing half-created: remove what this call made, newest first.
            leftovers = self._undo(undo)
            if leftovers and isinstance(exc, BackendError):
                raise BackendError(f"{exc}; and could not remove {', '.join(leftovers)}") from None
            raise
        return self.status(name)

    def _create_owned(self, kind: str, connector: str, name: str, *, create: Callable[[], Any],
                      read: Callable[[], Any], delete: Callable[[], Any]) -> None:
        """Create; when a deleted connector's object of the same name is still there (the garbage
        collector works asynchronously), remove it and create again. Never touch another's."""
        try:
            create()
            return
        except Exception as exc:
            if status_code(exc) != 409:
                raise self._backend_error(f"creating {kind} {name}", exc) from None
        existing = self._call(f"reading {kind} {name}", read, missing=None)
        labels = (existing.metadata.labels if existing is not None and existing.metadata else None) or {}
        if existing is not None and (labels.get(LABEL_MANAGED_BY) != MANAGER
                                     or labels.get(LABEL_INSTANCE) != connector):
            raise BackendError(f"a {kind} {name} not managed by {MANAGER} exists in namespace "
                               f"{self.namespace}; choose another connector name")
        self._call(f"replacing the leftover {kind} {name}", delete, missing=None)
        self._call(f"creating {kind} {name}", create)

    def _undo(self, undo: list[tuple[str, Callable[[], Any]]]) -> builtins.list[str]:
        leftovers = []
        for what, action in reversed(undo):
            try:
                self._call(f"removing {what}", action, missing=None)
            except BackendError:
                leftovers.append(what)
        return leftovers

    # ---- delete

    def delete(self, name: str) -> None:
        kind = _kind(self._read_ours(name))
        try:
            self._remove_workload(kind, name)
        except Exception as exc:
            if status_code(exc) == 404:  # deleted by someone else meanwhile
                raise ConnectorNotFoundError(name) from None
            raise self._backend_error(f"deleting {kind} {name}", exc) from None
        # The garbage collector removes these too; deleting them now frees their names at once for
        # a connector of the same name created straight away.
        self._call(f"deleting ConfigMap {config_map_name(name)}",
                   lambda: self.core.delete_namespaced_config_map(config_map_name(name), self.namespace),
                   missing=None)
        self._call(f"deleting Secret {secret_name(name)}",
                   lambda: self.core.delete_namespaced_secret(secret_name(name), self.namespace),
                   missing=None)

    def _remove_workload(self, kind: str, name: str) -> Any:
        from kubernetes import client

        return self._api(kind, "delete")(
            name, self.namespace, body=client.V1DeleteOptions(propagation_policy="Background"))

    def _api(self, kind: str, verb: str) -> Callable[..., Any]:
        """``apps.<verb>_namespaced_deployment`` or ``..._stateful_set``."""
        return getattr(self.apps, f"{verb}_namespaced_{WORKLOADS[kind]}")  # type: ignore[no-any-return]

    # ---- status

    def _read_ours(self, name: str) -> Any:
        """The connector's Deployment or StatefulSet."""
        check_connector_name(name)  # before it reaches the API
        for kind in WORKLOADS:
            workload = self._call(f"reading {kind} {name}", functools.partial(
                self._api(kind, "read"), name, self.namespace), missing=None)
            if workload is not None and is_ours(workload):
                return workload
        raise ConnectorNotFoundError(name)

    def status(self, name: str) -> ConnectorInfo:
        deployment = self._read_ours(name)
        pods = self._call(f"listing the pods of {name}", lambda: self.core.list_namespaced_pod(
            self.namespace, label_selector=f"{SELECTOR_ALL},{LABEL_INSTANCE}={name}"))
        return self._with_sinks([(deployment, list(pods.items or []))])[0]

    def config(self, name: str) -> dict[str, Any]:
        import yaml

        self._read_ours(name)
        cm_name = config_map_name(name)
        config_map = self._call(f"reading ConfigMap {cm_name}", lambda: self.core.read_namespaced_config_map(
            cm_name, self.namespace), missing=None)
        text = ((config_map.data if config_map is not None else None) or {}).get(CONFIG_KEY)
        document = yaml.safe_load(text) if isinstance(text, str) else None
        if not isinstance(document, dict):
            raise ConnectorNotFoundError(name)
        return document

    def list(self) -> builtins.list[ConnectorInfo]:
        workloads = [w for kind in WORKLOADS for w in self._call(
            f"listing {kind}s", functools.partial(self._api(kind, "list"), self.namespace,
                                                  label_selector=SELECTOR_ALL)).items or []]
        pods = self._call("listing pods", lambda: self.core.list_namespaced_pod(
            self.namespace, label_selector=SELECTOR_ALL))
        by_instance: dict[str, list[V1Pod]] = {}
        for pod in pods.items or []:
            labels = (pod.metadata.labels if pod.metadata else None) or {}
            by_instance.setdefault(labels.get(LABEL_INSTANCE, ""), []).append(pod)
        infos = self._with_sinks([(w, by_instance.get(w.metadata.name or "", []))
                                  for w in workloads if w.metadata is not None])
        return sorted(infos, key=lambda info: info.name)

    def _with_sinks(self, workloads: builtins.list[tuple[Any, builtins.list[V1Pod]]]) -> builtins.list[ConnectorInfo]:
        """Each workload's info; a sink's with its lag (from the topics backend) and, when its pod
        runs but is not ready because the sink halted, Failed with the reason its readiness probe
        gave (the kubelet's probe events: the program stays up, so no restart says it)."""
        infos, positions = [], {}
        for workload, pods in workloads:
            info = connector_info(workload, pods)
            where: SinkPosition | None = sink_position(workload)
            if where is not None:
                positions[info.name] = where
                pod = waiting_for_readiness(current_pods(workload, pods)) if info.status == ConnectorStatus.PENDING else None
                reason = self._halted(pod) if pod else None
                if reason:
                    info = replace(info, status=ConnectorStatus.FAILED, reason=reason, last_error=reason,
                                   pending_since=None)
            infos.append(info)
        return self.with_lag(infos, positions)

    def _halted(self, pod: str) -> str | None:
        """Why the sink in ``pod`` halted, from its readiness probe's events (None: it did not)."""
        try:
            events = self._call(f"listing the events of pod {pod}", lambda: self.core.list_namespaced_event(
                self.namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}"))
        except FluvioConnectorError:  # the status stands without it
            return None
        return halted_reason(list(events.items or []))

    # ---- logs

    def _pod_names(self, name: str) -> builtins.list[str]:
        """The names of the connector's current pods, newest first."""
        deployment = self._read_ours(name)
        pods = self._call(f"listing the pods of {name}", lambda: self.core.list_namespaced_pod(
            self.namespace, label_selector=f"{SELECTOR_ALL},{LABEL_INSTANCE}={name}"))
        current = current_pods(deployment, list(pods.items or []))
        return [pod.metadata.name for pod in current if pod.metadata and pod.metadata.name]

    def _chosen_pods(self, name: str, replica: str | None) -> builtins.list[str]:
        pods = self._pod_names(name)
        if replica is None:
            return pods
        if replica not in pods:
            raise ConfigError(f"connector {name} has no pod {replica!r}; its pods: {', '.join(pods) or 'none'}")
        return [replica]

    def logs(self, name: str, tail: int | None = 100, replica: str | None = None) -> builtins.list[str]:
        pods = self._chosen_pods(name, replica)
        if not pods or (tail is not None and tail <= 0):
            return []
        if len(pods) == 1:
            return self._pod_log(pods[0], tail)
        return merge_logs(((pod, self._pod_log(pod, tail)) for pod in sorted(pods)), tail)

    def _pod_log(self, pod: str, tail: int | None) -> builtins.list[str]:
        try:
            text = self.core.read_namespaced_pod_log(pod, self.namespace, container=CONTAINER,
                                                     tail_lines=tail)
        except Exception as exc:
            if status_code(exc) == 400:  # the container has not started yet: no log
                return []
            raise self._backend_error(f"reading the log of pod {pod}", exc) from None
        return str(text or "").splitlines()

    def follow_logs(self, name: str, tail: int | None = 10, replica: str | None = None) -> Iterator[str]:
        """Follows one pod: the one named by ``replica``, else the newest."""
        pods = self._chosen_pods(name, replica)
        if not pods:
            return
        pod = pods[0]
        try:
            # Without preloading, the client returns the raw urllib3 response to stream from.
            response: Any = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=CONTAINER, follow=True, tail_lines=tail,
                _preload_content=False)
        except Exception as exc:
            raise self._backend_error(f"following the log of pod {pod}", exc) from None
        pending = b""
        try:
            for chunk in response.stream(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", errors="replace")
            if pending:
                yield pending.decode("utf-8", errors="replace")
        finally:
            response.release_conn()

    def close(self) -> None:
        api_client = getattr(self._apps, "api_client", None)
        if api_client is not None and hasattr(api_client, "close"):
            api_client.close()

    # ---- errors

    def _call(self, what: str, action: Callable[[], T], *, missing: Any = ...) -> T:
        """Run an API call; a 404 gives ``missing`` when one is passed, every error a BackendError."""
        try:
            return action()
        except ApiTimeout as exc:
            raise self._backend_error(what, exc) from None
        except FluvioConnectorError:
            raise  # already one clear message (e.g. loading the kube config)
        except Exception as exc:
            if missing is not ... and status_code(exc) == 404:
                return missing  # type: ignore[no-any-return]
            raise self._backend_error(what, exc) from None

    def _backend_error(self, what: str, exc: BaseException) -> BackendError:
        return backend_error(what, exc, self.namespace)
