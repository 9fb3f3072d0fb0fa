# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test install install-test index bench eval clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

install: $(STAMP)

$(VENV)/.installed-test-$(shell cat pyproject.toml | sha1sum | cut -c1-12): $(STAMP)
	# torch first, pinned to the CPU build that lies on this machine's disk (see README).
	$(BIN)/pip install -q torch==2.13.0
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install -q -e '.[test,llm,st]'
	touch $@

# axe-core for the accessibility checks of tests/test_ui.py, from npm at install time (never fetched by a test).
AXE := .test-node/node_modules/axe-core/axe.min.js
$(AXE):
	npm install --prefix .test-node --no-audit --no-fund --silent axe-core@4
	test -f $@

install-test: $(VENV)/.installed-test-$(shell cat pyproject.toml | sha1sum | cut -c1-12) $(AXE)

index: install
	$(BIN)/qa ingest seeds

run: index
	$(BIN)/python app.py

test: install-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: install
	$(BIN)/qa bench

eval: index
	$(BIN)/qa eval

clean:
	rm -rf $(VENV) .qa
