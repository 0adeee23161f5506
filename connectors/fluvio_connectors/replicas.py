"""Several instances of one connector splitting one stream (``replicas``).

A connector created with N replicas (``fluvio-connector create --replicas N``, the create
operator's ``replicas``) runs N programs: N supervised processes locally, N pods of a StatefulSet
on Kubernetes. Each program learns from its environment how many there are
(``FLUVIO_CONNECTOR_REPLICAS``) and which one it is (``FLUVIO_CONNECTOR_REPLICA``, 0-based; on
Kubernetes the ordinal ending its pod's name, ``FLUVIO_CONNECTOR_POD_NAME``). Only connector types
whose source can be split take more than one (``ConnectorType.scales_out``: the MQTT source,
through MQTT 5 shared subscriptions); the test connector produces one exact sequence and refuses.

Replica ``i`` of an MQTT connector uses the client id ``<client id>-<i>``: stable across restarts
and pod replacements, distinct per replica, so each keeps its persistent session. That identity
is what keeps the guarantees: a broker keeps handing a replica that is down its share of the
stream (mosquitto queues it in the replica's session), delivered when that replica is back. A
Deployment's pods have no stable identity (a replaced pod has a new name, and the old session
would keep collecting its share for nobody), hence the StatefulSet.
"""

from __future__ import annotations

from collections.abc import Mapping

from fluvio_connectors.errors import ConfigError

REPLICAS_ENV = "FLUVIO_CONNECTOR_REPLICAS"
REPLICA_ENV = "FLUVIO_CONNECTOR_REPLICA"
POD_NAME_ENV = "FLUVIO_CONNECTOR_POD_NAME"  # a StatefulSet pod's name ends with its ordinal
MAX_REPLICAS = 16
SHARE_PREFIX = "$share/"


def check_replicas(value: object, where: str = "replicas") -> int:
    """``value`` as a number of replicas (1..MAX_REPLICAS); ConfigError otherwise."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REPLICAS:
        raise ConfigError(f"{where}: expected a whole number from 1 to {MAX_REPLICAS}, got {value!r}")
    return value


def from_env(env: Mapping[str, str]) -> tuple[int, int | None]:
    """``(replicas, this replica's index or None)`` from a program's environment."""
    replicas = check_replicas(env.get(REPLICAS_ENV) or "1", REPLICAS_ENV)
    raw = (env.get(REPLICA_ENV) or "").strip()
    where = REPLICA_ENV
    if not raw and replicas > 1 and env.get(POD_NAME_ENV):
        where = POD_NAME_ENV
        raw = env[POD_NAME_ENV].rpartition("-")[2]
    if not raw:
        if replicas > 1:
            raise ConfigError(f"{REPLICA_ENV}: missing; with {REPLICAS_ENV}={replicas} each instance needs its "
                              f"index, 0 to {replicas - 1} (or a StatefulSet pod name in {POD_NAME_ENV})")
        return replicas, None
    if not raw.isdigit() or int(raw) >= replicas:
        raise ConfigError(f"{where}: expected a replica index from 0 to {replicas - 1}, got {raw[:40]!r}")
    return replicas, int(raw)


def shared_filter(topic_filter: str, group: str) -> str:
    """``topic_filter`` as an MQTT 5 shared subscription of ``group`` (a filter that already is one
    is kept as it is)."""
    if topic_filter.startswith(SHARE_PREFIX):
        return topic_filter
    return f"{SHARE_PREFIX}{group}/{topic_filter}"


__all__ = [
    "MAX_REPLICAS",
    "POD_NAME_ENV",
    "REPLICAS_ENV",
    "REPLICA_ENV",
    "check_replicas",
    "from_env",
    "shared_filter",
]
