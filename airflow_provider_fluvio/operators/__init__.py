"""Airflow operators for Fluvio connectors and topics."""
