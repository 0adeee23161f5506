"""The Kubernetes runtime: per connector a Deployment, a ConfigMap with its config, a Secret.

Objects of connector ``NAME`` in the namespace:

- Deployment ``NAME``: 1 replica (``Recreate``: never two copies producing at once), the image
  ``REGISTRY/fluvio-connector-TYPE:VERSION`` with ``--config /etc/fluvio-connector/config.yaml``, a
  readiness probe on the program's status (``python -m fluvio_connectors.probe``), resources, a
  non-root, read-only security context with an ``emptyDir`` on ``/tmp``;
- ConfigMap ``NAME-config``: ``config.yaml`` (the config without secret values);
- Secret ``NAME-secrets`` (only when the config has secrets): one key a secret, given to the
  program as environment variables.

ConfigMap and Secret are owned by the Deployment, so deleting it lets Kubernetes' garbage collector
remove them.

A Deployment restarts a container that exits, whatever its exit code, so the pods run the program
with ``FLUVIO_CONNECTOR_STAY_AFTER_FINISH=1``: a connector that has finished (a finite ``count``)
idles, still ready, instead of producing its records again; it shows ``Running`` and its log says
it finished. An image whose program exits 0 anyway shows ``Stopped`` (``Completed``).

The kube config is resolved as Airflow's ``KubernetesHook`` does; the ``kubernetes`` package is
imported only when a runtime is built.
"""

from __future__ import annotations

import builtins
import json
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime, ConnectorStatus
from fluvio_connectors.config import DNS_LABEL, ConnectorConfig
from fluvio_connectors.errors import (
    BackendError,
    ConfigError,
    ConnectorExistsError,
    ConnectorNotFoundError,
    FluvioConnectorError,
)
from fluvio_connectors.runner import STAY_AFTER_FINISH_ENV
from fluvio_connectors.settings import ENDPOINT_ENV, HOME_ENV, Settings
from fluvio_connectors.status import STATUS_FILE_ENV

if TYPE_CHECKING:
    from kubernetes.client import AppsV1Api, CoreV1Api, V1Deployment, V1Pod

T = TypeVar("T")

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
APP_NAME = "fluvio-connector"
MANAGER = "airflow-provider-fluvio"
# Distinguishes this incarnation's pods from a deleted same-name connector's terminating pods.
LABEL_INCARNATION = f"{MANAGER}/incarnation"
ANNOTATION_TOPIC = f"{MANAGER}/topic"
ANNOTATION_VERSION = f"{MANAGER}/version"
SELECTOR_ALL = f"{LABEL_NAME}={APP_NAME},{LABEL_MANAGED_BY}={MANAGER}"

CONTAINER = "connector"
CONFIG_DIR = "/etc/fluvio-connector"
CONFIG_KEY = "config.yaml"
POD_HOME = "/tmp/fluvio-connectors"  # the only writable place (read-only root filesystem)
POD_STATUS_FILE = "/tmp/fluvio-connector/status.json"  # an emptyDir: survives container restarts
PROBE_COMMAND = ["python", "-m", "fluvio_connectors.probe"]
DEFAULT_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
PROGRESS_DEADLINE_SECONDS = 300

# A container waiting for one of these will not start without a change: Failed, with the reason.
FAILED_WAITING_REASONS = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
})
# A ready container that has crashed this often, last time less than this long ago, is still
# crash-looping: Failed, not a flap back to Running each time it comes up for a moment.
CRASH_LOOP_RESTARTS = 3
CRASH_LOOP_SETTLE = timedelta(seconds=60)


def image_pull_policy(version: str) -> str:
    """The seed's semantics: ``latest`` pulls always, ``dev`` is a local image (never pulled, as
    Fluvio did), a pinned version is pulled if not present."""
    if version == "latest":
        return "Always"
    if version == "dev":
        return "Never"
    return "IfNotPresent"


def connector_labels(name: str, type_name: str) -> dict[str, str]:
    return {
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: name,
        LABEL_MANAGED_BY: MANAGER,
        LABEL_COMPONENT: type_name,
    }


def config_map_name(name: str) -> str:
    return f"{name}-config"


def secret_name(name: str) -> str:
    return f"{name}-secrets"


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
        apps_api: AppsV1Api | None = None,
        core_api: CoreV1Api | None = None,
    ) -> None:
        super().__init__(settings)
        explicit = [k for k, v in (("in_cluster", in_cluster), ("kube_config_path", kube_config_path),
                                   ("kube_config", kube_config)) if v]
        if len(explicit) > 1:
            raise ConfigError(
                f"kubernetes runtime: {' and '.join(explicit)} were both given; use only one of "
                "in_cluster, kube_config_path, kube_config"
            )
        self.namespace = namespace or "default"
        if not DNS_LABEL.match(self.namespace):
            raise ConfigError(f"kubernetes runtime: {self.namespace!r} is not a valid namespace name")
        self.in_cluster = bool(in_cluster)
        self.kube_config_path = kube_config_path
        self.kube_config = kube_config
        self.cluster_context = cluster_context
        self.registry = registry
        self.image_tag = image_tag
        self.fluvio_endpoint = fluvio_endpoint or self.settings.fluvio_endpoint
        self.resources = resources or DEFAULT_RESOURCES
        self.service_account = service_account
        self._apps = apps_api
        self._core = core_api

    # ---- clients

    def _load_api_client(self) -> Any:
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            if self.in_cluster:
                config.load_incluster_config(client_configuration=configuration)
            elif self.kube_config_path:
                _require_file(self.kube_config_path, "kube config file")
                config.load_kube_config(config_file=os.path.expanduser(self.kube_config_path),
                                        context=self.cluster_context, client_configuration=configuration,
                                        persist_config=False)
            elif self.kube_config:
                config.load_kube_config_from_dict(_kube_config_dict(self.kube_config),
                                                  context=self.cluster_context,
                                                  client_configuration=configuration, persist_config=False)
            else:
                self._load_default(configuration)
        except config.ConfigException as exc:
            raise BackendError(f"cannot load the Kubernetes configuration: {exc}") from None
        except OSError as exc:
            raise BackendError(f"cannot read the Kubernetes configuration: {exc}") from None
        return client.ApiClient(configuration=configuration)

    def _load_default(self, configuration: Any) -> None:
        from kubernetes import config

        if os.environ.get("KUBERNETES_SERVICE_HOST") and not self.cluster_context:
            try:
                config.load_incluster_config(client_configuration=configuration)
                return
            except config.ConfigException:
                pass  # a pod without a service account token: fall back to a kube config file
        # KUBECONFIG is read now, not when the kubernetes package was imported.
        path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        _require_file(path, "kube config file (KUBECONFIG, else ~/.kube/config)")
        config.load_kube_config(config_file=path, context=self.cluster_context,
                                client_configuration=configuration, persist_config=False)

    @property
    def apps(self) -> AppsV1Api:
        if self._apps is None:
            from kubernetes import client

            api_client = self._load_api_client()
            self._apps = client.AppsV1Api(api_client)
            self._core = self._core or client.CoreV1Api(api_client)
        return self._apps

    @property
    def core(self) -> CoreV1Api:
        if self._core is None:
            from kubernetes import client

            self._core = client.CoreV1Api(self.apps.api_client)
        return self._core

    # ---- manifests

    def image_for(self, config: ConnectorConfig) -> tuple[str, str]:
        """The image and its pull policy."""
        tag = self.image_tag or config.version
        return config.connector_type.image(self.registry, tag), image_pull_policy(tag)

    def pod_environment(self) -> dict[str, str]:
        """Plain environment of the connector container (secrets come from the Secret)."""
        env = {HOME_ENV: POD_HOME, STATUS_FILE_ENV: POD_STATUS_FILE, "PYTHONUNBUFFERED": "1",
               # A Deployment restarts a container that exits, even with 0: a connector that has
               # finished (a finite count) must idle instead, or it would produce its records again.
               STAY_AFTER_FINISH_ENV: "1"}
        if self.fluvio_endpoint:
            env[ENDPOINT_ENV] = self.fluvio_endpoint
        return env

    def build_deployment(self, config: ConnectorConfig, *, replicas: int = 1) -> V1Deployment:
        """The connector's Deployment (no owner: it owns the others)."""
        from kubernetes import client

        image, pull_policy = self.image_for(config)
        labels = connector_labels(config.name, config.type)
        pod_labels = {**labels, LABEL_INCARNATION: uuid.uuid4().hex[:16]}
        volumes = [
            client.V1Volume(name="config", config_map=client.V1ConfigMapVolumeSource(
                name=config_map_name(config.name),
                items=[client.V1KeyToPath(key=CONFIG_KEY, path=CONFIG_KEY)])),
            client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource(size_limit="256Mi")),
        ]
        env_from = (
            [client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name=secret_name(config.name)))]
            if config.secrets else None
        )
        container = client.V1Container(
            name=CONTAINER,
            image=image,
            image_pull_policy=pull_policy,
            args=["--config", f"{CONFIG_DIR}/{CONFIG_KEY}"],
            env=[client.V1EnvVar(name=k, value=v) for k, v in self.pod_environment().items()],
            env_from=env_from,
            volume_mounts=[
                client.V1VolumeMount(name="config", mount_path=CONFIG_DIR, read_only=True),
                client.V1VolumeMount(name="tmp", mount_path="/tmp"),
            ],
            readiness_probe=client.V1Probe(
                _exec=client.V1ExecAction(command=PROBE_COMMAND),
                initial_delay_seconds=1, period_seconds=3, timeout_seconds=5, failure_threshold=3,
            ),
            resources=client.V1ResourceRequirements(requests=self.resources.get("requests"),
                                                     limits=self.resources.get("limits")),
            security_context=client.V1SecurityContext(
                run_as_non_root=True, run_as_user=1000, run_as_group=1000,
                allow_privilege_escalation=False, read_only_root_filesystem=True,
                capabilities=client.V1Capabilities(drop=["ALL"]),
            ),
            # When the program fails without writing a termination message, Kubernetes keeps the
            # end of its log instead: that is the "last error" a Failed status shows.
            termination_message_policy="FallbackToLogsOnError",
        )
        pod_spec = client.V1PodSpec(
            containers=[container],
            volumes=volumes,
            security_context=client.V1PodSecurityContext(
                run_as_non_root=True, run_as_user=1000, run_as_group=1000, fs_group=1000,
                seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
            ),
            service_account_name=self.service_account,
            automount_service_account_token=False,  # the connector never talks to the API server
            termination_grace_period_seconds=30,
        )
        return client.V1Deployment(
            api_version="apps/v1",
            kind="Deployment",
            metadata=client.V1ObjectMeta(
                name=config.name, namespace=self.namespace, labels=labels,
                annotations={ANNOTATION_TOPIC: config.topic, ANNOTATION_VERSION: config.version},
            ),
            spec=client.V1DeploymentSpec(
                replicas=replicas,
                selector=client.V1LabelSelector(match_labels={
                    LABEL_NAME: APP_NAME, LABEL_INSTANCE: config.name, LABEL_MANAGED_BY: MANAGER}),
                strategy=client.V1DeploymentStrategy(type="Recreate"),
                progress_deadline_seconds=PROGRESS_DEADLINE_SECONDS,
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=pod_labels), spec=pod_spec),
            ),
        )

    def _owned_meta(self, name: str, config: ConnectorConfig, owner: V1Deployment) -> Any:
        from kubernetes import client

        assert owner.metadata is not None
        return client.V1ObjectMeta(
            name=name, namespace=self.namespace, labels=connector_labels(config.name, config.type),
            owner_references=[client.V1OwnerReference(
                api_version="apps/v1", kind="Deployment", name=owner.metadata.name or config.name,
                uid=owner.metadata.uid or "")],
        )

    def build_config_map(self, config: ConnectorConfig, owner: V1Deployment) -> Any:
        from kubernetes import client

        return client.V1ConfigMap(
            api_version="v1", kind="ConfigMap",
            metadata=self._owned_meta(config_map_name(config.name), config, owner),
            data={CONFIG_KEY: config.to_yaml()},
        )

    def build_secret(self, config: ConnectorConfig, owner: V1Deployment) -> Any:
        from kubernetes import client

        return client.V1Secret(
            api_version="v1", kind="Secret", type="Opaque",
            metadata=self._owned_meta(secret_name(config.name), config, owner),
            string_data=config.secret_values(),
        )

    # ---- create

    def _check_absent(self, name: str) -> None:
        deployment = self._call(f"reading Deployment {name}", lambda: self.apps.read_namespaced_deployment(
            name, self.namespace), missing=None)
        if deployment is None:
            return
        if not _is_ours(deployment):
            raise BackendError(f"a Deployment {name} not managed by {MANAGER} exists in namespace "
                               f"{self.namespace}; choose another connector name")
        raise ConnectorExistsError(name)

    def _start(self, config: ConnectorConfig) -> ConnectorInfo:
        name, cm_name, secret = config.name, config_map_name(config.name), secret_name(config.name)
        # The Deployment first, with no replica: the ConfigMap and Secret it owns need its uid, and
        # its pod must not start (and fail on a missing Secret) before they exist.
        try:
            created = self.apps.create_namespaced_deployment(self.namespace,
                                                             self.build_deployment(config, replicas=0))
        except Exception as exc:
            if _status_code(exc) == 409:
                raise ConnectorExistsError(name) from None
            raise self._backend_error(f"creating Deployment {name}", exc) from None
        undo: list[tuple[str, Callable[[], Any]]] = [
            (f"Deployment {name}", lambda: self._remove_deployment(name))]
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
            self._call(f"scaling Deployment {name} to 1 replica",
                       lambda: self.apps.patch_namespaced_deployment(name, self.namespace,
                                                                    {"spec": {"replicas": 1}}))
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
            if _status_code(exc) != 409:
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
        self._read_ours(name)
        try:
            self._remove_deployment(name)
        except Exception as exc:
            if _status_code(exc) == 404:  # deleted by someone else meanwhile
                raise ConnectorNotFoundError(name) from None
            raise self._backend_error(f"deleting Deployment {name}", exc) from None
        # The garbage collector removes these too; deleting them now frees their names at once for
        # a connector of the same name created straight away.
        self._call(f"deleting ConfigMap {config_map_name(name)}",
                   lambda: self.core.delete_namespaced_config_map(config_map_name(name), self.namespace),
                   missing=None)
        self._call(f"deleting Secret {secret_name(name)}",
                   lambda: self.core.delete_namespaced_secret(secret_name(name), self.namespace),
                   missing=None)

    def _remove_deployment(self, name: str) -> Any:
        from kubernetes import client

        return self.apps.delete_namespaced_deployment(
            name, self.namespace, body=client.V1DeleteOptions(propagation_policy="Background"))

    # ---- status

    def _read_ours(self, name: str) -> V1Deployment:
        if not DNS_LABEL.match(name):
            raise ConnectorNotFoundError(name)
        deployment: V1Deployment | None = self._call(
            f"reading Deployment {name}", lambda: self.apps.read_namespaced_deployment(name, self.namespace),
            missing=None)
        if deployment is None or not _is_ours(deployment):
            raise ConnectorNotFoundError(name)
        return deployment

    def status(self, name: str) -> ConnectorInfo:
        deployment = self._read_ours(name)
        pods = self._call(f"listing the pods of {name}", lambda: self.core.list_namespaced_pod(
            self.namespace, label_selector=f"{SELECTOR_ALL},{LABEL_INSTANCE}={name}"))
        return connector_info(deployment, list(pods.items or []))

    def list(self) -> builtins.list[ConnectorInfo]:
        deployments = self._call("listing Deployments", lambda: self.apps.list_namespaced_deployment(
            self.namespace, label_selector=SELECTOR_ALL))
        pods = self._call("listing pods", lambda: self.core.list_namespaced_pod(
            self.namespace, label_selector=SELECTOR_ALL))
        by_instance: dict[str, list[V1Pod]] = {}
        for pod in pods.items or []:
            labels = (pod.metadata.labels if pod.metadata else None) or {}
            by_instance.setdefault(labels.get(LABEL_INSTANCE, ""), []).append(pod)
        infos = [
            connector_info(d, by_instance.get(d.metadata.name or "", []))
            for d in deployments.items or [] if d.metadata is not None
        ]
        return sorted(infos, key=lambda info: info.name)

    # ---- logs

    def _pod_name(self, name: str) -> str | None:
        deployment = self._read_ours(name)
        pods = self._call(f"listing the pods of {name}", lambda: self.core.list_namespaced_pod(
            self.namespace, label_selector=f"{SELECTOR_ALL},{LABEL_INSTANCE}={name}"))
        current = _current_pods(deployment, list(pods.items or []))
        return current[0].metadata.name if current and current[0].metadata else None

    def logs(self, name: str, tail: int | None = 100) -> builtins.list[str]:
        pod = self._pod_name(name)
        if pod is None:
            return []
        if tail is not None and tail <= 0:
            return []
        try:
            text = self.core.read_namespaced_pod_log(pod, self.namespace, container=CONTAINER,
                                                     tail_lines=tail)
        except Exception as exc:
            if _status_code(exc) == 400:  # the container has not started yet: no log
                return []
            raise self._backend_error(f"reading the log of pod {pod}", exc) from None
        return str(text or "").splitlines()

    def follow_logs(self, name: str, tail: int | None = 10) -> Iterator[str]:
        pod = self._pod_name(name)
        if pod is None:
            return
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
        except FluvioConnectorError:
            raise  # already one clear message (e.g. loading the kube config)
        except Exception as exc:
            if missing is not ... and _status_code(exc) == 404:
                return missing  # type: ignore[no-any-return]
            raise self._backend_error(what, exc) from None

    def _backend_error(self, what: str, exc: BaseException) -> BackendError:
        code = _status_code(exc)
        if code is not None:
            return BackendError(f"Kubernetes API, {what} in namespace {self.namespace}: {code} "
                                f"{getattr(exc, 'reason', '') or ''}: {_api_message(exc)}".rstrip(": "))
        if isinstance(exc, BackendError):
            return exc
        return BackendError(f"cannot reach the Kubernetes API ({what}): {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- status mapping


def connector_info(deployment: V1Deployment, pods: list[V1Pod]) -> ConnectorInfo:
    """One connector's info from its Deployment and the pods carrying its labels."""
    meta = deployment.metadata
    assert meta is not None
    labels = meta.labels or {}
    annotations = meta.annotations or {}
    current = _current_pods(deployment, pods)
    status, reason = deployment_status(deployment, current)
    restarts = 0
    started_at = meta.creation_timestamp
    for pod in current:
        for cs in (pod.status.container_statuses if pod.status else None) or []:
            restarts += cs.restart_count or 0
            if cs.state and cs.state.running and cs.state.running.started_at:
                started_at = cs.state.running.started_at
    return ConnectorInfo(
        name=meta.name or "",
        type=labels.get(LABEL_COMPONENT, ""),
        topic=annotations.get(ANNOTATION_TOPIC, ""),
        status=status,
        runtime="kubernetes",
        version=annotations.get(ANNOTATION_VERSION, "latest"),
        reason=reason,
        started_at=started_at,
        restarts=restarts,
    )


def deployment_status(
    deployment: V1Deployment, pods: list[V1Pod], now: datetime | None = None
) -> tuple[ConnectorStatus, str | None]:
    """The one status vocabulary from a Deployment and its current pods (newest first).

    A ready replica is Running (unless it is still crash-looping); a container waiting for a
    reason that needs a change (CrashLoopBackOff, ImagePullBackOff, ErrImagePull,
    CreateContainerConfigError, ...) or a Deployment past its progress deadline is Failed with
    that reason; a container that finished with exit code 0 is Stopped; anything else, including
    a fresh connector whose image is still being pulled, is Pending.
    """
    now = now or datetime.now(UTC)
    status = deployment.status
    ready = (status.ready_replicas or 0) if status else 0
    for pod in pods:
        for cs in (pod.status.container_statuses if pod.status else None) or []:
            state, last = cs.state, cs.last_state
            terminated = last.terminated if last else None
            waiting = state.waiting if state else None
            if waiting and waiting.reason in FAILED_WAITING_REASONS:
                if waiting.reason == "CrashLoopBackOff" and terminated and terminated.exit_code == 0:
                    return ConnectorStatus.STOPPED, "finished (exit code 0)"
                detail = _termination_text(terminated) if waiting.reason == "CrashLoopBackOff" else None
                return ConnectorStatus.FAILED, _join(waiting.reason, detail or waiting.message)
            if state and state.terminated:
                if state.terminated.exit_code == 0:
                    return ConnectorStatus.STOPPED, "finished (exit code 0)"
                return ConnectorStatus.PENDING, _join("restarting", _termination_text(state.terminated))
            if (cs.ready and ready and cs.restart_count >= CRASH_LOOP_RESTARTS and terminated
                    and terminated.exit_code != 0 and terminated.finished_at
                    and now - terminated.finished_at < CRASH_LOOP_SETTLE):
                return ConnectorStatus.FAILED, _join("CrashLoopBackOff", _termination_text(terminated))
    if ready >= 1:
        return ConnectorStatus.RUNNING, None
    for condition in (status.conditions if status else None) or []:
        if condition.type == "Progressing" and condition.status == "False" and \
                condition.reason == "ProgressDeadlineExceeded":
            return ConnectorStatus.FAILED, _join("ProgressDeadlineExceeded", condition.message)
        if condition.type == "ReplicaFailure" and condition.status == "True":
            return ConnectorStatus.FAILED, _join(condition.reason or "ReplicaFailure", condition.message)
    for pod in pods:
        for cs in (pod.status.container_statuses if pod.status else None) or []:
            if cs.state and cs.state.waiting and cs.state.waiting.reason:
                return ConnectorStatus.PENDING, _join(cs.state.waiting.reason, cs.state.waiting.message)
        for pod_condition in (pod.status.conditions if pod.status else None) or []:
            if pod_condition.type == "PodScheduled" and pod_condition.status == "False":
                return ConnectorStatus.PENDING, _join(pod_condition.reason or "Unschedulable",
                                                      pod_condition.message)
    return ConnectorStatus.PENDING, None


def _current_pods(deployment: V1Deployment, pods: list[V1Pod]) -> list[V1Pod]:
    """This incarnation's pods that are not being deleted, newest first."""
    template = deployment.spec.template if deployment.spec else None
    template_labels = (template.metadata.labels if template and template.metadata else None) or {}
    incarnation = template_labels.get(LABEL_INCARNATION)
    current = []
    for pod in pods:
        meta = pod.metadata
        if meta is None or meta.deletion_timestamp is not None:
            continue
        if incarnation and (meta.labels or {}).get(LABEL_INCARNATION) != incarnation:
            continue
        current.append(pod)
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(current, key=lambda p: (p.metadata.creation_timestamp if p.metadata else None) or epoch,
                  reverse=True)


def _termination_text(terminated: Any) -> str | None:
    if terminated is None:
        return None
    lines = [ln.strip() for ln in (terminated.message or "").splitlines() if ln.strip()]
    last = lines[-1] if lines else (terminated.reason or "")
    return _join(f"exit code {terminated.exit_code}", last)


def _join(head: str, tail: str | None) -> str:
    return f"{head}: {tail}" if tail else head


def _is_ours(deployment: V1Deployment) -> bool:
    labels = (deployment.metadata.labels if deployment.metadata else None) or {}
    return labels.get(LABEL_MANAGED_BY) == MANAGER and labels.get(LABEL_NAME) == APP_NAME


def _status_code(exc: BaseException) -> int | None:
    from kubernetes.client.exceptions import ApiException

    return exc.status if isinstance(exc, ApiException) else None


def _api_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message") or body)
        except (ValueError, AttributeError):
            return str(body)[:300]
    return str(getattr(exc, "reason", "") or exc)


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
