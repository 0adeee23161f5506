"""Fluvio connectors: the data plane.

The connector programs (sources and sinks), their config model, the catalog of connector types and
the topics port. This package never imports Airflow: it is what the connector images ship
(docs/architecture.md lists the modules).
"""

__version__ = "0.1.0"
