"""Airflow triggers for Fluvio connectors."""
