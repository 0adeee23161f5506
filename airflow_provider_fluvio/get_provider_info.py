"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point.

Airflow validates this dict against its ``provider_info.schema.json`` and requires ``package-name``
to equal the distribution name; if either is wrong every ``airflow`` command fails. The connection
form (labelled fields, hidden standard fields) is declared here, in the Airflow 3.2+ format, so the
UI never imports the hook to draw it.
"""

from __future__ import annotations

from typing import Any

_OPTIONAL_STRING: dict[str, Any] = {"type": ["string", "null"]}


def _conn_fields() -> dict[str, Any]:
    """The ``fluvio`` connection's extras, as labelled form fields (stored under bare names)."""
    return {
        "runtime": {
            "label": "Connector runtime",
            "description": "Where connectors run: local processes on the worker (default) or Kubernetes.",
            "schema": {"type": ["string", "null"], "enum": ["local", "kubernetes", None], "default": "local"},
        },
        "state_dir": {
            "label": "State directory",
            "description": (
                "Directory for the embedded topic log and local connectors (FLUVIO_CONNECTORS_HOME), "
                "e.g. /var/lib/fluvio-connectors; default: the worker's FLUVIO_CONNECTORS_HOME or "
                "~/.fluvio-connectors."
            ),
            "schema": dict(_OPTIONAL_STRING),
        },
        "use_fluvio_profile": {
            "label": "Use Fluvio profile",
            "description": "With no host: use the worker's Fluvio profile (~/.fluvio/config) for topics.",
            "schema": {"type": ["boolean", "null"], "default": False},
        },
        "namespace": {
            "label": "Kubernetes namespace",
            "description": "Namespace for connector Deployments (kubernetes runtime), e.g. connectors; default: default.",
            "schema": dict(_OPTIONAL_STRING),
        },
        "kube_config_path": {
            "label": "Kube config path",
            "description": "Path to a kubeconfig file on the worker (kubernetes runtime), e.g. ~/.kube/config.",
            "schema": dict(_OPTIONAL_STRING),
        },
        "kube_config": {
            "label": "Kube config (YAML or JSON)",
            "description": "The kubeconfig itself, instead of a path (kubernetes runtime); kept secret.",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "cluster_context": {
            "label": "Kube context",
            "description": "Context in the kubeconfig to use (kubernetes runtime).",
            "schema": dict(_OPTIONAL_STRING),
        },
        "in_cluster": {
            "label": "In cluster configuration",
            "description": "Use the service account of the pod Airflow runs in (kubernetes runtime).",
            "schema": {"type": ["boolean", "null"], "default": False},
        },
        "image_registry": {
            "label": "Image registry",
            "description": "Registry prefix of the connector images, e.g. ghcr.io/acme (kubernetes runtime).",
            "schema": dict(_OPTIONAL_STRING),
        },
        "host_network": {
            "label": "Host network",
            "description": (
                "Run the connector pods on their node's network (kubernetes runtime): for a Fluvio "
                "cluster or source only the nodes reach, e.g. on their loopback."
            ),
            "schema": {"type": ["boolean", "null"], "default": False},
        },
        "image_tag": {
            "label": "Image tag override",
            "description": (
                "When set, connectors run this image tag (e.g. 0.1.0) instead of the config's version "
                "(kubernetes runtime: pin every connector of this connection to one build)."
            ),
            "schema": dict(_OPTIONAL_STRING),
        },
    }


def _mqtt_conn_fields() -> dict[str, Any]:
    """The ``mqtt`` connection's extras: TLS and its certificates (PEM text)."""
    return {
        "tls": {
            "label": "Use TLS (mqtts)",
            "description": "Connect with TLS (mqtts, port 8883 by default); a host written as an mqtts:// URL turns it on too.",
            "schema": {"type": ["boolean", "null"], "default": False},
        },
        "ca_cert": {
            "label": "CA certificate (PEM)",
            "description": "With TLS: the CA that signed the broker's certificate, instead of the system's trusted CAs.",
            "schema": {"type": ["string", "null"], "format": "multiline"},
        },
        "client_cert": {
            "label": "Client certificate (PEM)",
            "description": "With TLS: a certificate the broker authenticates this client by (with the key below).",
            "schema": {"type": ["string", "null"], "format": "multiline"},
        },
        "client_key": {
            "label": "Client key (PEM)",
            "description": "With TLS: the private key of the client certificate (it may be pasted on one line); kept secret.",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
    }


def get_provider_info() -> dict[str, Any]:
    """The provider's metadata for Airflow's ProvidersManager."""
    return {
        "package-name": "airflow-provider-fluvio",
        "name": "Fluvio",
        "description": (
            "Run Fluvio connectors (test source, MQTT source) from Apache Airflow and wait for them."
        ),
        "integrations": [
            {
                "integration-name": "Fluvio",
                "external-doc-url": "https://www.fluvio.io/docs/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Fluvio",
                "python-modules": ["airflow_provider_fluvio.hooks.fluvio", "airflow_provider_fluvio.hooks.mqtt"],
            }
        ],
        "operators": [
            {"integration-name": "Fluvio", "python-modules": ["airflow_provider_fluvio.operators.connector"]}
        ],
        "sensors": [
            {"integration-name": "Fluvio", "python-modules": ["airflow_provider_fluvio.sensors.connector"]}
        ],
        "triggers": [
            {
                "integration-name": "Fluvio",
                "python-modules": [
                    "airflow_provider_fluvio.triggers.connector",
                    "airflow_provider_fluvio.triggers.records",
                ],
            }
        ],
        # Topics as assets: fluvio://HOST:PORT/TOPIC (a cluster) and fluvio+embedded://localhost/TOPIC.
        "asset-uris": [
            {
                "schemes": ["fluvio", "fluvio+embedded"],
                "handler": "airflow_provider_fluvio.assets.fluvio.sanitize_uri",
                "factory": "airflow_provider_fluvio.assets.fluvio.create_asset",
                "to_openlineage_converter": "airflow_provider_fluvio.assets.fluvio.convert_asset_to_openlineage",
            }
        ],
        # The Connectors pages (also registered through the airflow.plugins entry point, which
        # Airflow reads whether or not it discovers providers eagerly) and the tasks' extra link.
        "plugins": [{"name": "fluvio", "plugin-class": "airflow_provider_fluvio.ui.plugin.FluvioPlugin"}],
        "extra-links": ["airflow_provider_fluvio.ui.links.FluvioConnectorLink"],
        # MessageQueueTrigger(scheme="fluvio", ...); needs the optional extra [messaging].
        "queues": ["airflow_provider_fluvio.queues.fluvio.FluvioMessageQueueProvider"],
        "connection-types": [
            {
                "connection-type": "fluvio",
                "hook-class-name": "airflow_provider_fluvio.hooks.fluvio.FluvioHook",
                "hook-name": "Fluvio",
                "conn-fields": _conn_fields(),
                # Airflow 3.3's form shows placeholders for the standard fields only, so each
                # extra's example value is in its description.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "password"],
                    "relabeling": {"host": "Fluvio SC host", "port": "Fluvio SC port"},
                    "placeholders": {
                        "host": "empty: embedded topic log on the worker; else e.g. fluvio-sc.fluvio.svc",
                        "port": "9003",
                    },
                },
            },
            {
                # The broker of MQTT connectors (FluvioCreateConnectorOperator's mqtt_conn_id) and of
                # tasks that publish (MqttHook.client); Test connects and disconnects.
                "connection-type": "mqtt",
                "hook-class-name": "airflow_provider_fluvio.hooks.mqtt.MqttHook",
                "hook-name": "MQTT",
                "conn-fields": _mqtt_conn_fields(),
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {"host": "Broker host", "port": "Broker port", "login": "Username"},
                    "placeholders": {
                        "host": "e.g. mqtt.example.com",
                        "port": "1883 (8883 with TLS)",
                        "login": "optional",
                        "password": "optional",
                    },
                },
            },
        ],
    }
