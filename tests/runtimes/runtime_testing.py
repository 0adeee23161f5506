"""Helpers for the runtime tests: ``wait_for_status`` (a poll with a deadline; ``wait_until`` is
``tests/polling.py``'s), ``live_group_members`` (what is left of a process group), test connectors
(``greeter``, ``values``, ``greetings``, ``gone``) and ``FakeKube``,
a fake Kubernetes API server behind the real client classes.

No cluster runs here, so ``FakeKube`` stands at the API boundary. The runtime gets
``create_autospec`` mocks of the real ``AppsV1Api``/``CoreV1Api`` (every call is checked against the
installed client's signatures), whose side effects keep objects the way the API server does: each
object the runtime sends is serialised with ``ApiClient().sanitize_for_serialization`` (as the
client would put it on the wire), stored as JSON, and handed back through ``ApiClient().deserialize``
into the client's models, with a uid, a creation time, ``stringData`` folded into base64 ``data``,
409 on a taken name and 404 on a missing one.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest.mock import create_autospec

import pytest
from polling import wait_until as wait_until  # re-exported

from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime, ConnectorStatus
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.config import ConnectorConfig, load_config
from fluvio_connectors.topics import open_topics


def state_of(runtime: LocalRuntime, name: str) -> sv.SupervisorState:
    """What the supervisor of local connector ``name`` has written about itself (it must exist)."""
    state = sv.read_state(runtime.root / name)
    assert state is not None
    return state


def greetings(count: int) -> list[str]:
    """What a test connector of ``count`` records writes."""
    return [f"Hello, Fluvio! - {i}" for i in range(1, count + 1)]


def greeter(name: str, **parameters: Any) -> ConnectorConfig:
    """A test connector named ``name`` writing to the topic ``name`` (created)."""
    return load_config({"name": name, "type": "test-connector", "topic": name, "create_topic": True,
                        "parameters": parameters}, secrets={})


def values(topic: str) -> list[str]:
    """The values of ``topic`` as text ([] while it does not exist)."""
    topics = open_topics()
    try:
        return [r.value_text() for r in topics.read(topic)] if topics.topic_exists(topic) else []
    finally:
        topics.close()


def gone(pid: int | None) -> bool:
    """Whether process ``pid`` has exited (a zombie counts as gone)."""
    import psutil

    if pid is None:
        return True
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def live_group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``."""
    import psutil

    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members


def api_exception(status: int, reason: str, message: str) -> Exception:
    from kubernetes.client.exceptions import ApiException

    body = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": reason.replace(" ", ""),
            "code": status,
        }
    )
    return ApiException(status=status, reason=reason, body=body)


def to_wire(obj: Any) -> dict[str, Any]:
    """What the client sends: the model serialised exactly as ``ApiClient`` does it."""
    from kubernetes import client

    data = client.ApiClient().sanitize_for_serialization(obj)
    assert isinstance(data, dict)
    return json.loads(json.dumps(data))  # only JSON types survive, as on the wire


def from_wire(data: dict[str, Any], kind: str) -> Any:
    """What the client returns: a JSON response deserialised into its models."""
    from kubernetes import client

    return client.ApiClient().deserialize(json.dumps(data), kind, "application/json")


_SPEC_MOCKS: dict[type, Any] = {}


def spec_mock(cls: type) -> Any:
    """``create_autospec(cls, instance=True)``, made once (it takes seconds for these classes) and
    reset for each user: calls are checked against the real signatures all the same."""
    mock = _SPEC_MOCKS.get(cls)
    if mock is None:
        mock = _SPEC_MOCKS[cls] = create_autospec(cls, instance=True)
    mock.reset_mock(return_value=True, side_effect=True)
    return mock


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeKube:
    """A namespace-scoped object store behind autospec'd AppsV1Api and CoreV1Api."""

    KINDS = {
        "deployments": "V1Deployment",
        "statefulsets": "V1StatefulSet",
        "configmaps": "V1ConfigMap",
        "secrets": "V1Secret",
        "pods": "V1Pod",
    }

    def __init__(self) -> None:
        from kubernetes import client

        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {k: {} for k in self.KINDS}
        self.logs: dict[str, str] = {}
        self.fail: dict[str, Exception] = {}  # method name -> error to raise
        self.gc_lag = False  # True: deleting a Deployment leaves its owned objects (GC not run yet)
        self.journal: list[str] = []  # the writes, in order
        self.apps = spec_mock(client.AppsV1Api)
        self.core = spec_mock(client.CoreV1Api)
        apps, core = self.apps, self.core
        apps.create_namespaced_deployment.side_effect = self._creator(
            "deployments", "create_namespaced_deployment"
        )
        apps.read_namespaced_deployment.side_effect = self._reader("deployments")
        apps.list_namespaced_deployment.side_effect = self._lister("deployments", "V1DeploymentList")
        apps.patch_namespaced_deployment.side_effect = self._patch_deployment
        apps.delete_namespaced_deployment.side_effect = self._delete_deployment
        apps.create_namespaced_stateful_set.side_effect = self._creator(
            "statefulsets", "create_namespaced_stateful_set"
        )
        apps.read_namespaced_stateful_set.side_effect = self._reader("statefulsets")
        apps.list_namespaced_stateful_set.side_effect = self._lister("statefulsets", "V1StatefulSetList")
        apps.patch_namespaced_stateful_set.side_effect = self._patcher("statefulsets")
        apps.delete_namespaced_stateful_set.side_effect = self._workload_deleter("statefulsets")
        core.create_namespaced_config_map.side_effect = self._creator(
            "configmaps", "create_namespaced_config_map"
        )
        core.read_namespaced_config_map.side_effect = self._reader("configmaps")
        core.delete_namespaced_config_map.side_effect = self._deleter("configmaps")
        core.create_namespaced_secret.side_effect = self._creator("secrets", "create_namespaced_secret")
        core.read_namespaced_secret.side_effect = self._reader("secrets")
        core.delete_namespaced_secret.side_effect = self._deleter("secrets")
        core.list_namespaced_pod.side_effect = self._lister("pods", "V1PodList")
        core.read_namespaced_pod_log.side_effect = self._pod_log
        core.list_namespaced_event.side_effect = self._events
        self.events: list[dict[str, Any]] = []  # as the kubelet records them (add_event)

    # ---- store

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.objects[kind].get((namespace, name))

    def names(self, kind: str) -> list[str]:
        return sorted(name for _, name in self.objects[kind])

    def put(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        meta = data.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.objects[kind][(meta["namespace"], meta["name"])] = data
        return data

    def _check_fail(self, method: str) -> None:
        if method in self.fail:
            raise self.fail[method]

    def _creator(self, kind: str, method: str) -> Callable[..., Any]:
        def create(namespace: str, body: Any, **_: Any) -> Any:
            self._check_fail(method)
            data = to_wire(body)
            data.setdefault("metadata", {})["namespace"] = namespace
            name = data["metadata"]["name"]
            if (namespace, name) in self.objects[kind]:
                raise api_exception(409, "Conflict", f'{kind} "{name}" already exists')
            if kind == "secrets" and "stringData" in data:
                encoded = {
                    k: base64.b64encode(v.encode()).decode() for k, v in data.pop("stringData").items()
                }
                data["data"] = {**data.get("data", {}), **encoded}
            if kind in ("deployments", "statefulsets"):
                # A StatefulSet's status always has replicas (the client's model requires it).
                data.setdefault("status", {"replicas": 0} if kind == "statefulsets" else {})
                self.journal.append(f"create {kind} {name} replicas={data['spec']['replicas']}")
            else:
                self.journal.append(f"create {kind} {name}")
            return from_wire(self.put(kind, data), self.KINDS[kind])

        return create

    def _reader(self, kind: str) -> Callable[..., Any]:
        def read(name: str, namespace: str, **_: Any) -> Any:
            data = self.get(kind, name, namespace)
            if data is None:
                raise api_exception(404, "Not Found", f'{kind} "{name}" not found')
            return from_wire(copy.deepcopy(data), self.KINDS[kind])

        return read

    def _lister(self, kind: str, list_kind: str) -> Callable[..., Any]:
        def list_(namespace: str, label_selector: str | None = None, **_: Any) -> Any:
            items = [
                copy.deepcopy(d)
                for (ns, _n), d in sorted(self.objects[kind].items())
                if ns == namespace and _matches(d["metadata"].get("labels") or {}, label_selector)
            ]
            return from_wire(
                {"apiVersion": "v1", "kind": list_kind, "metadata": {}, "items": items}, list_kind
            )

        return list_

    def _deleter(self, kind: str) -> Callable[..., Any]:
        def delete(name: str, namespace: str, **_: Any) -> Any:
            if self.objects[kind].pop((namespace, name), None) is None:
                raise api_exception(404, "Not Found", f'{kind} "{name}" not found')
            return {"kind": "Status", "status": "Success"}

        return delete

    def _patcher(self, kind: str) -> Callable[..., Any]:
        def patch(name: str, namespace: str, body: Any, **_: Any) -> Any:
            method = "patch_namespaced_" + ("deployment" if kind == "deployments" else "stateful_set")
            self._check_fail(method)
            data = self.get(kind, name, namespace)
            if data is None:
                raise api_exception(404, "Not Found", f'{kind}.apps "{name}" not found')
            data["spec"]["replicas"] = body["spec"]["replicas"]
            self.journal.append(f"patch {kind} {name} replicas={body['spec']['replicas']}")
            return from_wire(copy.deepcopy(data), self.KINDS[kind])

        return patch

    def _patch_deployment(self, name: str, namespace: str, body: Any, **_: Any) -> Any:
        return self._patcher("deployments")(name, namespace, body)

    def _workload_deleter(self, kind: str) -> Callable[..., Any]:
        def delete(name: str, namespace: str, body: Any = None, **_: Any) -> Any:
            data = self.objects[kind].pop((namespace, name), None)
            if data is None:
                raise api_exception(404, "Not Found", f'{kind}.apps "{name}" not found')
            if not self.gc_lag:  # the garbage collector removes what the workload owns
                uid = data["metadata"]["uid"]
                for owned in ("configmaps", "secrets", "pods"):
                    for key, obj in list(self.objects[owned].items()):
                        if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                            del self.objects[owned][key]
            self.journal.append(f"delete {kind} {name}")
            return {"kind": "Status", "status": "Success"}

        return delete

    def _delete_deployment(self, name: str, namespace: str, body: Any = None, **_: Any) -> Any:
        return self._workload_deleter("deployments")(name, namespace, body)

    def _pod_log(
        self,
        name: str,
        namespace: str,
        container: str | None = None,
        tail_lines: int | None = None,
        follow: bool | None = None,
        **_: Any,
    ) -> str:
        if self.get("pods", name, namespace) is None:
            raise api_exception(404, "Not Found", f'pods "{name}" not found')
        lines = self.logs.get(name, "").splitlines()
        if tail_lines is not None:
            lines = lines[-tail_lines:]
        return "".join(line + "\n" for line in lines)

    # ---- the controllers' part: pods and Deployment status, set by a test

    def add_pod(
        self,
        deployment: str,
        pod_status: dict[str, Any],
        *,
        name: str | None = None,
        deleting: bool = False,
        incarnation: str | None = None,
        created: str | None = None,
    ) -> str:
        """A pod of ``deployment`` (or of the StatefulSet of that name) as its controller would
        make it, with ``pod_status``."""
        dep = self.get("deployments", deployment) or self.get("statefulsets", deployment)
        assert dep is not None, deployment
        labels = dict(dep["spec"]["template"]["metadata"]["labels"])
        if incarnation is not None:
            labels["airflow-provider-fluvio/incarnation"] = incarnation
        pod_name = name or f"{deployment}-7d9f8b6c5d-{uuid.uuid4().hex[:5]}"
        metadata: dict[str, Any] = {"name": pod_name, "labels": labels}
        if created:
            metadata["creationTimestamp"] = created
        if deleting:
            metadata["deletionTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.put(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": metadata,
                "spec": dep["spec"]["template"]["spec"],
                "status": pod_status,
            },
        )
        return pod_name

    def add_event(self, pod: str, reason: str, message: str, when: str | None = None) -> None:
        """An event about ``pod`` as the kubelet records one (e.g. a failed readiness probe)."""
        stamp = when or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.events.append({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{pod}.{uuid.uuid4().hex[:8]}", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default"},
            "reason": reason, "message": message, "type": "Warning",
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        })

    def _events(self, namespace: str, field_selector: str | None = None, **_: Any) -> Any:
        wanted = dict(term.split("=", 1) for term in (field_selector or "").split(",") if term)
        items = [e for e in self.events if e["metadata"]["namespace"] == namespace
                 and all(e["involvedObject"].get(k.split(".", 1)[1]) == v for k, v in wanted.items())]
        return from_wire({"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": copy.deepcopy(items)},
                         "CoreV1EventList")

    def set_deployment_status(self, deployment: str, status: dict[str, Any]) -> None:
        dep = self.get("deployments", deployment) or self.get("statefulsets", deployment)
        assert dep is not None, deployment
        dep["status"] = status


def wait_for_status(
    runtime: ConnectorRuntime,
    name: str,
    wanted: ConnectorStatus | set[ConnectorStatus],
    timeout: float = 15.0,
    forbidden: set[ConnectorStatus] | None = None,
) -> ConnectorInfo:
    """Poll ``runtime.status(name)`` until it is ``wanted``; fail on a ``forbidden`` status seen on
    the way, or at the deadline with the last status and the connector's log."""
    targets = {wanted} if isinstance(wanted, ConnectorStatus) else set(wanted)
    deadline = time.monotonic() + timeout
    info = runtime.status(name)
    while time.monotonic() < deadline:
        info = runtime.status(name)
        if forbidden and info.status in forbidden:
            pytest.fail(
                f"{name} was {info.status} ({info.reason}) before {targets}; log:\n"
                + "\n".join(runtime.logs(name, tail=20))
            )
        if info.status in targets:
            return info
        time.sleep(0.02)
    pytest.fail(
        f"{name} still {info.status} ({info.reason}) after {timeout}s, wanted {targets}; log:\n"
        + "\n".join(runtime.logs(name, tail=20))
    )
