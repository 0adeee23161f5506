"""A connector's status from its Deployment and pods, in the one vocabulary of every runtime.

Kubernetes knows no "Failed" for a Deployment: a pod that cannot start waits, retries and backs
off forever. A connector is Failed when waiting longer would not help without a change (a bad
image, a missing Secret, a program that keeps crashing) so that a DAG stops waiting for it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorStatus, ReplicaStatus, SinkPosition
from airflow_provider_fluvio.runtimes.k8s_manifests import (
    ANNOTATION_CONSUMER,
    ANNOTATION_DIRECTION,
    ANNOTATION_PARTITION,
    ANNOTATION_TOPIC,
    ANNOTATION_VERSION,
    LABEL_COMPONENT,
    LABEL_INCARNATION,
)

if TYPE_CHECKING:
    from kubernetes.client import V1Deployment, V1Pod

# A container waiting for one of these will not start without a change: Failed, with the reason.
FAILED_WAITING_REASONS = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
})
# A ready container that has crashed this often, last time less than this long ago, is still
# crash-looping: Failed, not a flap back to Running each time it comes up for a moment.
CRASH_LOOP_RESTARTS = 3
CRASH_LOOP_SETTLE = timedelta(seconds=60)


def connector_info(deployment: V1Deployment, pods: list[V1Pod]) -> ConnectorInfo:
    """One connector's info from its Deployment and the pods carrying its labels."""
    meta = deployment.metadata
    assert meta is not None
    labels = meta.labels or {}
    annotations = meta.annotations or {}
    current = current_pods(deployment, pods)
    status, reason = deployment_status(deployment, current)
    restarts = 0
    started_at = meta.creation_timestamp
    for pod in current:
        for cs in (pod.status.container_statuses if pod.status else None) or []:
            restarts += cs.restart_count or 0
            if cs.state and cs.state.running and cs.state.running.started_at:
                started_at = cs.state.running.started_at
    wanted = wanted_replicas(deployment)
    ready = (deployment.status.ready_replicas or 0) if deployment.status else 0
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
        pending_since=pending_since(deployment, current) if status == ConnectorStatus.PENDING else None,
        replicas=wanted,
        replicas_running=min(ready, wanted),
        replica_statuses=tuple(pod_status(pod) for pod in current) if wanted > 1 else (),
        direction="sink" if annotations.get(ANNOTATION_DIRECTION) == "sink" else "source",
    )


def sink_position(deployment: V1Deployment) -> SinkPosition | None:
    """Where a sink's position is kept (its annotations); None for a source."""
    meta = deployment.metadata
    annotations = (meta.annotations if meta else None) or {}
    if annotations.get(ANNOTATION_DIRECTION) != "sink" or meta is None:
        return None
    partition = annotations.get(ANNOTATION_PARTITION, "0")
    return SinkPosition(annotations.get(ANNOTATION_CONSUMER) or meta.name or "",
                        int(partition) if partition.isdigit() else 0)


def waiting_for_readiness(pods: list[V1Pod]) -> str | None:
    """The newest pod's name when its container runs but is not ready (a halted sink looks so)."""
    for pod in pods[:1]:
        for cs in (pod.status.container_statuses if pod.status else None) or []:
            if cs.state and cs.state.running and not cs.ready and pod.metadata and pod.metadata.name:
                return str(pod.metadata.name)
    return None


HALTED_PROBE = re.compile(r"^Readiness probe failed: [^:\n]*: halted \((.*)\)\s*$", re.S)


def halted_reason(events: list[Any]) -> str | None:
    """A halted sink's reason, from the newest readiness-probe event of its pod (the probe prints
    ``NAME: halted (REASON)``); None when the newest one says something else."""
    probes = [e for e in events if getattr(e, "reason", None) == "Unhealthy"
              and str(getattr(e, "message", "") or "").startswith("Readiness probe failed:")]
    if not probes:
        return None
    epoch = datetime.min.replace(tzinfo=UTC)
    newest = max(probes, key=lambda e: _aware(e.last_timestamp or e.event_time or e.first_timestamp or epoch))
    match = HALTED_PROBE.match(str(newest.message))
    return " ".join(match.group(1).split()) if match else None


def wanted_replicas(deployment: V1Deployment) -> int:
    """The replicas the connector was created with (the Deployment's, at least 1)."""
    spec = deployment.spec.replicas if deployment.spec else None
    return max(1, spec or 1)


def pod_status(pod: V1Pod) -> ReplicaStatus:
    """One pod as a replica: Running when ready, Failed when it waits for a reason that needs a
    change, else Pending with what it waits for."""
    name = (pod.metadata.name if pod.metadata else None) or ""
    statuses = (pod.status.container_statuses if pod.status else None) or []
    restarts = sum(cs.restart_count or 0 for cs in statuses)
    for cs in statuses:
        waiting = cs.state.waiting if cs.state else None
        if waiting and waiting.reason in FAILED_WAITING_REASONS:
            return ReplicaStatus(name, ConnectorStatus.FAILED, _join(waiting.reason, waiting.message), None, restarts)
        if cs.ready:
            return ReplicaStatus(name, ConnectorStatus.RUNNING, None, None, restarts)
        if waiting and waiting.reason:
            return ReplicaStatus(name, ConnectorStatus.PENDING, _join(waiting.reason, waiting.message), None, restarts)
    return ReplicaStatus(name, ConnectorStatus.PENDING, None, None, restarts)


def pending_since(deployment: V1Deployment, pods: list[V1Pod]) -> datetime | None:
    """Since when a Pending connector has not been ready: the newest pod's last Ready transition
    (it was ready until then, or never was since that time), else that pod's creation, else the
    Deployment's."""
    for pod in pods[:1]:
        for condition in (pod.status.conditions if pod.status else None) or []:
            if condition.type == "Ready" and condition.status != "True" and condition.last_transition_time:
                return _aware(condition.last_transition_time)
        if pod.metadata and pod.metadata.creation_timestamp:
            return _aware(pod.metadata.creation_timestamp)
    created = deployment.metadata.creation_timestamp if deployment.metadata else None
    return _aware(created) if created else None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def deployment_status(
    deployment: V1Deployment, pods: list[V1Pod], now: datetime | None = None
) -> tuple[ConnectorStatus, str | None]:
    """The one status vocabulary from a Deployment and its current pods (newest first).

    All the replicas the connector was created with ready is Running (unless one is still
    crash-looping; some of them ready is Pending, "1 of 2 replicas ready"); a container waiting for a
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
    wanted = wanted_replicas(deployment)
    if ready >= wanted:
        return ConnectorStatus.RUNNING, None
    partly = f"{ready} of {wanted} replicas ready" if ready else None
    for condition in (status.conditions if status else None) or []:
        if condition.type == "Progressing" and condition.status == "False" and \
                condition.reason == "ProgressDeadlineExceeded":
            return ConnectorStatus.FAILED, _join("ProgressDeadlineExceeded", condition.message)
        if condition.type == "ReplicaFailure" and condition.status == "True":
            return ConnectorStatus.FAILED, _join(condition.reason or "ReplicaFailure", condition.message)
    for pod in pods:
        for cs in (pod.status.container_statuses if pod.status else None) or []:
            if cs.state and cs.state.waiting and cs.state.waiting.reason:
                return ConnectorStatus.PENDING, _prefixed(partly, _join(cs.state.waiting.reason,
                                                                        cs.state.waiting.message))
        for pod_condition in (pod.status.conditions if pod.status else None) or []:
            if pod_condition.type == "PodScheduled" and pod_condition.status == "False":
                return ConnectorStatus.PENDING, _prefixed(partly, _join(pod_condition.reason or "Unschedulable",
                                                                        pod_condition.message))
    return ConnectorStatus.PENDING, partly


def _prefixed(head: str | None, text: str) -> str:
    return f"{head}; {text}" if head else text


def current_pods(deployment: V1Deployment, pods: list[V1Pod]) -> list[V1Pod]:
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
