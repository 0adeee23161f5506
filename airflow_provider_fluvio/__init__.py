"""Apache Airflow provider for Fluvio connectors.

Importing this package is cheap on purpose (DAG files are parsed every few seconds): nothing here
imports Airflow, kubernetes, fluvio or paho; the modules that need them import them lazily.
"""

__version__ = "0.1.0"

# The ``fluvio`` connection operators, sensors and the hook use by default.
DEFAULT_CONN_ID = "fluvio_default"
