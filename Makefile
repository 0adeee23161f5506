# Two commands on a fresh machine with Python 3.11: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_TIMEOUT ?= 1500

.PHONY: install demo test e2e lint bench clean dist images k8s-build k8s-up k8s-down

$(STAMP): pyproject.toml
	@echo "install: $(VENV) with the project (editable), Apache Airflow 3 and the test tools from PyPI;"
	@echo "         2-5 minutes the first time, reused afterwards (until pyproject.toml changes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	scripts/progress.sh "pip install -e '.[test,messaging]'" $(BIN)/pip install --quiet -e '.[test,messaging]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The Kubernetes binaries and images the tests need are built first, outside the suite's timeout.
test: lint
	TEST_TIMEOUT=$(TEST_TIMEOUT) scripts/prepare-tests.sh
	timeout -s KILL $(TEST_TIMEOUT) $(BIN)/pytest -q -p no:cacheprovider --durations=25

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
	$(BIN)/python bench/ui_bench.py

# A wheel and an sdist in dist/ (pip install dist/airflow_provider_fluvio-*.whl into Airflow's environment).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	@ls -1 dist

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache dist build

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
