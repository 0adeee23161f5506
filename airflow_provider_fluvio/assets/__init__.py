"""Fluvio topics as Airflow assets: URIs, the asset helper and watcher, lineage, records out of asset events."""
