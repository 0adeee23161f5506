# Two commands on a fresh machine with Python 3.11: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_TIMEOUT ?= 1500

.PHONY: install demo test lint unit bench clean k8s-up k8s-down

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	timeout -s KILL $(TEST_TIMEOUT) $(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/topics_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
