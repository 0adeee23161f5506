"""Fluvio as a message queue of Airflow's common.messaging provider (optional extra ``messaging``)."""
