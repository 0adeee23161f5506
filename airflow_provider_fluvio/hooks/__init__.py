"""Airflow hooks for Fluvio connectors."""
