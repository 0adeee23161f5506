"""Fluvio connectors: the data plane.

Standalone connector programs (test source, MQTT source), their config model, the catalog of
connector types and the topics port. This package never imports Airflow: it is what the
connector images ship.
"""

__version__ = "0.1.0"
