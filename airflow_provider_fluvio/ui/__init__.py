"""The Connectors pages in Airflow's UI: the plugin, its pages and JSON API, the task extra link.

Nothing is imported here: every Airflow component imports the plugin module (``ui/plugin.py``),
and only the API server builds the pages (FastAPI and the hook are imported on its first request).
"""
