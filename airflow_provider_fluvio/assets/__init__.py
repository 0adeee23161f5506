"""Fluvio topics as Airflow assets: URIs, the asset helper, lineage reporting."""
