"""Airflow sensors for Fluvio connectors."""
