"""The Kubernetes objects of one connector, and the labels that find them again.

Objects of connector ``NAME`` in the namespace:

- Deployment ``NAME``: 1 replica, or the connector's ``replicas`` (``Recreate``: a new version never
  runs beside the old one, so there are never more pods than replicas), the image
  ``REGISTRY/fluvio-connector-TYPE:VERSION`` with ``--config /etc/fluvio-connector/config.yaml``, a
  readiness probe on the program's status (``python -m fluvio_connectors.probe``) and a liveness
  probe on its heartbeat (``... probe --liveness``: a stopped or hung program is restarted),
  resources, a non-root, read-only security context with an ``emptyDir`` on ``/tmp``, and in its
  environment where the connector's records begin in the topic (``FLUVIO_CONNECTOR_START_OFFSET``,
  noted at create), so a restarted pod continues instead of starting over; with ``host_network``
  the pod uses the node's network (a Fluvio cluster or broker that only the node's loopback reaches);
- with several replicas, a StatefulSet ``NAME`` instead: the same pods, each with a stable identity
  (``NAME-0``, ``NAME-1``, ...; the name is given to the program, whose replica index is its
  ordinal: ``fluvio_connectors.replicas``), started side by side (``Parallel``);
- ConfigMap ``NAME-config``: ``config.yaml`` (the config without secret values);
- Secret ``NAME-secrets`` (only when the config has secrets): one key a secret, given to the
  program as environment variables.

ConfigMap and Secret are owned by the Deployment (or StatefulSet), so deleting it lets Kubernetes'
garbage collector remove them.

A Deployment restarts a container that exits, whatever its exit code, so the pods run the program
with ``FLUVIO_CONNECTOR_STAY_AFTER_FINISH=1``: a connector that has finished (a finite ``count``)
idles, still ready, instead of producing its records again.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from fluvio_connectors.replicas import POD_NAME_ENV, REPLICAS_ENV
from fluvio_connectors.resume import START_OFFSET_ENV
from fluvio_connectors.runner import STAY_AFTER_FINISH_ENV
from fluvio_connectors.settings import ENDPOINT_ENV, HOME_ENV
from fluvio_connectors.status import STATUS_FILE_ENV

if TYPE_CHECKING:
    from kubernetes.client import V1ConfigMap, V1Deployment, V1ObjectMeta, V1Secret, V1StatefulSet

    from fluvio_connectors.config import ConnectorConfig

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
# A sink's direction and where its position is kept (its named consumer): status computes its lag.
ANNOTATION_DIRECTION = f"{MANAGER}/direction"
ANNOTATION_CONSUMER = f"{MANAGER}/consumer"
ANNOTATION_PARTITION = f"{MANAGER}/partition"
SELECTOR_ALL = f"{LABEL_NAME}={APP_NAME},{LABEL_MANAGED_BY}={MANAGER}"

CONTAINER = "connector"
CONFIG_DIR = "/etc/fluvio-connector"
CONFIG_KEY = "config.yaml"
POD_HOME = "/tmp/fluvio-connectors"  # the only writable place (read-only root filesystem)
POD_STATUS_FILE = "/tmp/fluvio-connector/status.json"  # an emptyDir: survives container restarts
PROBE_COMMAND = ["python", "-m", "fluvio_connectors.probe"]
LIVENESS_COMMAND = [*PROBE_COMMAND, "--liveness"]
DEFAULT_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
PROGRESS_DEADLINE_SECONDS = 300


def image_pull_policy(version: str) -> str:
    """The seed's semantics: ``latest`` pulls always, ``dev`` is a local image (never pulled, as
    Fluvio did), a pinned version is pulled if not present."""
    if version == "latest":
        return "Always"
    if version == "dev":
        return "Never"
    return "IfNotPresent"


def connector_image(config: ConnectorConfig, registry: str | None, image_tag: str | None) -> tuple[str, str]:
    """The image of a connector and its pull policy; ``image_tag`` wins over the config's version."""
    tag = image_tag or config.version
    return config.connector_type.image(registry, tag), image_pull_policy(tag)


def connector_labels(name: str, type_name: str) -> dict[str, str]:
    """The labels every object of connector ``name`` carries."""
    return {
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: name,
        LABEL_MANAGED_BY: MANAGER,
        LABEL_COMPONENT: type_name,
    }


def is_ours(deployment: V1Deployment) -> bool:
    """Whether a Deployment is a connector this provider manages (never touch another's)."""
    labels = (deployment.metadata.labels if deployment.metadata else None) or {}
    return labels.get(LABEL_MANAGED_BY) == MANAGER and labels.get(LABEL_NAME) == APP_NAME


def config_map_name(name: str) -> str:
    """The name of connector ``name``'s ConfigMap."""
    return f"{name}-config"


def secret_name(name: str) -> str:
    """The name of connector ``name``'s Secret."""
    return f"{name}-secrets"


def pod_environment(fluvio_endpoint: str | None, start_offset: int = 0, replicas: int = 1) -> dict[str, str]:
    """Plain environment of the connector container (secrets come from the Secret). With several
    replicas each pod is told how many there are; it claims one replica's identity itself (a
    Deployment's pods have no stable index: ``fluvio_connectors.replicas``)."""
    env = {HOME_ENV: POD_HOME, STATUS_FILE_ENV: POD_STATUS_FILE, "PYTHONUNBUFFERED": "1",
           # A Deployment restarts a container that exits, even with 0: a connector that has
           # finished (a finite count) must idle instead, or it would produce its records again.
           STAY_AFTER_FINISH_ENV: "1",
           # Every container of every pod continues from what the topic holds from here on.
           START_OFFSET_ENV: str(start_offset)}
    if fluvio_endpoint:
        env[ENDPOINT_ENV] = fluvio_endpoint
    if replicas > 1:
        env[REPLICAS_ENV] = str(replicas)
    return env


def build_deployment(
    config: ConnectorConfig,
    *,
    namespace: str,
    image: str,
    pull_policy: str,
    environment: dict[str, str],
    resources: dict[str, dict[str, str]],
    service_account: str | None,
    replicas: int,
    host_network: bool = False,
) -> V1Deployment:
    """The connector's Deployment (no owner: it owns the others)."""
    from kubernetes import client

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
        env=[client.V1EnvVar(name=k, value=v) for k, v in environment.items()],
        env_from=env_from,
        volume_mounts=[
            client.V1VolumeMount(name="config", mount_path=CONFIG_DIR, read_only=True),
            client.V1VolumeMount(name="tmp", mount_path="/tmp"),
        ],
        readiness_probe=client.V1Probe(
            _exec=client.V1ExecAction(command=PROBE_COMMAND),
            initial_delay_seconds=1, period_seconds=3, timeout_seconds=5, failure_threshold=3,
        ),
        # The status file's heartbeat, as the local supervisor watches it: a program that has not
        # written it for status.STALE_AFTER_SECONDS (stopped, or hung: see runner) fails; three
        # failures in a row (or no status file 40 s after the start) restart the container.
        liveness_probe=client.V1Probe(
            _exec=client.V1ExecAction(command=LIVENESS_COMMAND),
            initial_delay_seconds=10, period_seconds=10, timeout_seconds=5, failure_threshold=3,
        ),
        resources=client.V1ResourceRequirements(requests=resources.get("requests"),
                                                 limits=resources.get("limits")),
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
        service_account_name=service_account,
        # On the node's network the pod resolves names as the node does unless it asks for the
        # cluster's DNS explicitly: ClusterFirstWithHostNet keeps Service names working.
        host_network=host_network or None,
        dns_policy="ClusterFirstWithHostNet" if host_network else None,
        automount_service_account_token=False,  # the connector never talks to the API server
        termination_grace_period_seconds=30,
    )
    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=client.V1ObjectMeta(
            name=config.name, namespace=namespace, labels=labels,
            annotations=connector_annotations(config),
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


def connector_annotations(config: ConnectorConfig) -> dict[str, str]:
    """What ``status`` and ``list`` read back: topic, version, and for a sink its position's name."""
    annotations = {ANNOTATION_TOPIC: config.topic, ANNOTATION_VERSION: config.version,
                   ANNOTATION_DIRECTION: config.direction}
    if config.direction == "sink":
        annotations[ANNOTATION_CONSUMER] = config.consumer_id
        annotations[ANNOTATION_PARTITION] = str(config.consumer.partition if config.consumer else 0)
    return annotations


def _owned_metadata(name: str, config: ConnectorConfig, namespace: str, owner: V1Deployment) -> V1ObjectMeta:
    from kubernetes import client

    assert owner.metadata is not None
    return client.V1ObjectMeta(
        name=name, namespace=namespace, labels=connector_labels(config.name, config.type),
        owner_references=[client.V1OwnerReference(
            api_version="apps/v1", kind=getattr(owner, "kind", None) or "Deployment",
            name=owner.metadata.name or config.name,
            uid=owner.metadata.uid or "")],
    )


def build_config_map(config: ConnectorConfig, namespace: str, owner: V1Deployment) -> V1ConfigMap:
    """The ConfigMap holding the connector's config without secret values, owned by ``owner``."""
    from kubernetes import client

    return client.V1ConfigMap(
        api_version="v1", kind="ConfigMap",
        metadata=_owned_metadata(config_map_name(config.name), config, namespace, owner),
        data={CONFIG_KEY: config.to_yaml()},
    )


def build_secret(config: ConnectorConfig, namespace: str, owner: V1Deployment) -> V1Secret:
    """The Secret holding the connector's secret values, owned by ``owner``."""
    from kubernetes import client

    return client.V1Secret(
        api_version="v1", kind="Secret", type="Opaque",
        metadata=_owned_metadata(secret_name(config.name), config, namespace, owner),
        string_data=config.secret_values(),
    )


def build_stateful_set(deployment: V1Deployment, replicas: int) -> V1StatefulSet:
    """The StatefulSet of a connector with several replicas: the pods ``deployment`` would run,
    each with a stable identity (a pod replaced keeps its name, so its replica keeps its MQTT
    session), told its own name (the program takes its replica index from it)."""
    from kubernetes import client

    assert deployment.spec is not None and deployment.metadata is not None
    template = deployment.spec.template
    assert template.spec is not None
    container = template.spec.containers[0]
    container.env = [*(container.env or []), client.V1EnvVar(
        name=POD_NAME_ENV,
        value_from=client.V1EnvVarSource(field_ref=client.V1ObjectFieldSelector(field_path="metadata.name")))]
    return client.V1StatefulSet(
        api_version="apps/v1",
        kind="StatefulSet",
        metadata=deployment.metadata,
        spec=client.V1StatefulSetSpec(
            replicas=replicas,
            selector=deployment.spec.selector,
            template=template,
            service_name=deployment.metadata.name or "",  # no Service is made: the pods need no DNS names
            pod_management_policy="Parallel",
            update_strategy=client.V1StatefulSetUpdateStrategy(type="RollingUpdate"),
        ),
    )
