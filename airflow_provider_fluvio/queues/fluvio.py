"""``FluvioMessageQueueProvider``: the ``fluvio`` scheme of Airflow's common.messaging provider.

With ``airflow-provider-fluvio[messaging]`` installed, ``MessageQueueTrigger(scheme="fluvio",
topic="orders", fluvio_conn_id="fluvio_default")`` in an ``AssetWatcher`` is a
``FluvioRecordTrigger`` with those arguments (every argument of that trigger may be given). Without
common.messaging, importing this module says what to install; nothing else in the provider needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    from airflow.providers.common.messaging.providers.base_provider import BaseMessageQueueProvider
except ImportError as exc:  # the optional extra is not installed
    from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

    raise AirflowOptionalProviderFeatureException(
        "Fluvio as a message queue needs Airflow's common.messaging provider: "
        "pip install 'airflow-provider-fluvio[messaging]'"
    ) from exc

if TYPE_CHECKING:
    from airflow.triggers.base import BaseEventTrigger


class FluvioMessageQueueProvider(BaseMessageQueueProvider):
    """``scheme="fluvio"`` dispatches to ``FluvioRecordTrigger``, which defines the arguments."""

    scheme = "fluvio"

    def trigger_class(self) -> type[BaseEventTrigger]:
        from airflow_provider_fluvio.triggers.records import FluvioRecordTrigger

        return FluvioRecordTrigger


__all__ = ["FluvioMessageQueueProvider"]
