# syntax=docker/dockerfile:1
# The test-connector connector image: the test source: Hello, Fluvio! - {i} every timeout.
#
#   docker build -f docker/test-connector.Dockerfile -t fluvio-connector-test-connector:0.1.0 .   (from the repository root)
#   docker run --rm -v $PWD/my-connector.yaml:/etc/fluvio-connector/config.yaml fluvio-connector-test-connector:0.1.0
#
# Only connectors/requirements.txt and the fluvio_connectors package go in (no Airflow);
# docker/test-connector.Dockerfile.dockerignore keeps the rest of the repository out of the build context.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/opt/fluvio-connectors \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLUVIO_CONNECTORS_HOME=/home/fluvio/.fluvio-connectors \
    FLUVIO_CONNECTOR_STATUS_FILE=/tmp/fluvio-connector/status.json

COPY connectors/requirements.txt /opt/fluvio-connectors/requirements.txt
RUN pip install --no-cache-dir --requirement /opt/fluvio-connectors/requirements.txt \
 && groupadd --gid 1000 fluvio \
 && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/fluvio --shell /usr/sbin/nologin fluvio

COPY connectors/fluvio_connectors /opt/fluvio-connectors/fluvio_connectors
RUN python -m compileall -q /opt/fluvio-connectors/fluvio_connectors

# Numeric, so Kubernetes' runAsNonRoot can verify it. The Fluvio profile, when used, is mounted
# at /home/fluvio/.fluvio/config.
USER 1000:1000
WORKDIR /home/fluvio

# Healthy once the connector reports ready (or finished) in a fresh status file.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "fluvio_connectors.probe", "--quiet"]

# Python is PID 1: the connector installs its own SIGTERM/SIGINT handlers (flush, then exit 0),
# and it starts no child processes that would need reaping.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "fluvio_connectors.test_connector"]
CMD ["--config", "/etc/fluvio-connector/config.yaml"]
