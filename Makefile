# Two commands on a fresh machine with Python 3.11: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_TIMEOUT ?= 1500

.PHONY: install demo test e2e lint bench clean images k8s-build k8s-up k8s-down

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,messaging]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	timeout -s KILL $(TEST_TIMEOUT) $(BIN)/pytest -q -p no:cacheprovider

e2e: $(STAMP)
	timeout -s KILL 600 $(BIN)/pytest -q -p no:cacheprovider tests/e2e

bench: $(STAMP)
	$(BIN)/python bench/topics_bench.py
	$(BIN)/python bench/runtime_bench.py
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/mqtt_bench.py
	$(BIN)/python bench/mqtt_replicas_bench.py
	$(BIN)/python bench/resume_bench.py
	$(BIN)/python bench/images_bench.py
	$(BIN)/python bench/real_pods_bench.py
	$(BIN)/python bench/events_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The connector images (fluvio-connector-TYPE:VERSION) built with buildah from docker/*.Dockerfile on
# stand-in bases made from Debian packages, cached in ~/.cache/airflow-provider-fluvio/images
# (root; apt-get install podman buildah runc mmdebstrap; first build ~2 min).
images:
	docker/build-images.sh

# A real local Kubernetes API (etcd, kube-apiserver, controller-manager, scheduler, kwok fake nodes)
# built from the Go module proxy into ~/.cache/airflow-provider-fluvio/k8s (first build ~15 min),
# and, where the machine can run one (root, containerd, ...), a real node running the images above.
k8s-build:
	k8s/build.sh

k8s-up: k8s-build
	k8s/up.sh
	@echo "run: . $${FLUVIO_K8S_STATE:-$$HOME/.cache/airflow-provider-fluvio/k8s/run}/env"

k8s-down:
	k8s/down.sh
