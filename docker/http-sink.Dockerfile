# syntax=docker/dockerfile:1
# The http-sink connector image: the HTTP sink: each record as the body of an HTTP request, at least once.
#
#   docker build -f docker/http-sink.Dockerfile -t fluvio-connector-http-sink:0.1.0 .   (from the repository root)
#   docker run --rm -v $PWD/my-connector.yaml:/etc/fluvio-connector/config.yaml fluvio-connector-http-sink:0.1.0
#
# Only connectors/requirements.txt and the fluvio_connectors package go in (no Airflow);
# docker/http-sink.Dockerfile.dockerignore keeps the rest of the repository out of the build context.
#
# Two stages: pip installs the dependencies in the first; the image is the second, holding Python,
# those packages and the connector, and runs nothing at build time (no shell, pip or useradd needed).
# BASE_IMAGE is the Python of both stages; BUILD_IMAGE, when given, replaces it in the first stage
# only (a base with pip, so that the runtime base may be one without). Both must be the same Python
# minor version. docker/build-images.sh passes stand-ins made from Debian packages (docker/README.md).
ARG PYTHON_VERSION=3.11
ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim-bookworm
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY connectors/requirements.txt /opt/fluvio-connectors/requirements.txt
RUN pip install --no-cache-dir --target /opt/fluvio-connectors/lib --requirement /opt/fluvio-connectors/requirements.txt
COPY connectors/fluvio_connectors /opt/fluvio-connectors/fluvio_connectors
RUN python -m compileall -q /opt/fluvio-connectors/fluvio_connectors \
 && mkdir -p /home/fluvio

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/opt/fluvio-connectors:/opt/fluvio-connectors/lib \
    HOME=/home/fluvio \
    FLUVIO_CONNECTORS_HOME=/home/fluvio/.fluvio-connectors \
    FLUVIO_CONNECTOR_STATUS_FILE=/tmp/fluvio-connector/status.json
COPY --from=build /opt/fluvio-connectors /opt/fluvio-connectors
COPY --from=build --chown=1000:1000 /home/fluvio /home/fluvio

# Numeric, so Kubernetes' runAsNonRoot can verify it (no passwd entry is needed: HOME is set above).
# The Fluvio profile, when used, is mounted at /home/fluvio/.fluvio/config.
USER 1000:1000
WORKDIR /home/fluvio

# Healthy once the connector reports ready (or finished) in a fresh status file.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "fluvio_connectors.probe", "--quiet"]

# Python is PID 1: the connector installs its own SIGTERM/SIGINT handlers (flush, then exit 0),
# and it starts no child processes that would need reaping.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "fluvio_connectors.http_sink"]
CMD ["--config", "/etc/fluvio-connector/config.yaml"]
