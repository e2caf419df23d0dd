# modelreg — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/modelreg/api/v1/*.proto)
GEN_DIR := client
PROTOC := $(PY) -m grpc_tools.protoc -Iproto \
  --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc
BUF := $(VENV)/bin/buf
# What buf-breaking compares proto/ with: the last commit, read from the git
# directory (--git-common-dir also works in a worktree, where .git is a file; the
# commit is named by hash because HEAD there is the main worktree's HEAD).
# CI can point it at the base branch, e.g. BUF_AGAINST='.git#branch=main,subdir=proto'.
BUF_AGAINST ?= $(shell git rev-parse --git-common-dir)\#ref=$(shell git rev-parse HEAD),subdir=proto

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server,ui,dev,examples]'
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the project with server, ui, dev and examples extras

UI_LISTEN ?= 127.0.0.1:8080
API_LISTEN ?= 127.0.0.1:50051

run: $(STAMP) ## Start the server (embedded PostgreSQL unless MODELREG_DATABASE_URL is set) and the dashboard
	@echo "modelreg: API on $(API_LISTEN) (gRPC), dashboard on http://$(UI_LISTEN)/"
	@$(VENV)/bin/modelreg ui --target $(API_LISTEN) --listen $(UI_LISTEN) --log-level warning & ui=$$!; \
	trap 'kill $$ui 2>/dev/null; wait $$ui' EXIT; \
	$(VENV)/bin/modelreg serve --listen $(API_LISTEN)

test: $(STAMP) ## Run the test suite (MODELREG_TEST_DATABASE_URL, else a throwaway embedded cluster)
	@if [ -n "$$MODELREG_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then \
	  echo "make test: the dashboard's browser tests run in headless Chromium"; \
	else \
	  echo "make test: NOTE: no Chromium found, the dashboard's browser tests will be SKIPPED (apt-get install chromium)"; \
	fi
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, mypy, proto-check, sync-check, buf lint, buf breaking
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict client/tools/unasync.py bench examples
	$(MAKE) --no-print-directory proto-check
	$(MAKE) --no-print-directory sync-check
	$(MAKE) --no-print-directory buf-lint
	$(MAKE) --no-print-directory buf-breaking

fmt: $(STAMP) ## Format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

proto: $(STAMP) ## Regenerate client/modelreg/api/v1 from proto/
	$(PROTOC) --python_out=$(GEN_DIR) --grpc_python_out=$(GEN_DIR) \
	  --mypy_out=$(GEN_DIR) --mypy_grpc_out=$(GEN_DIR) $(PROTOS)

proto-check: $(STAMP) ## Fail if the generated code is stale
	@tmp=$$(mktemp -d) && \
	$(PROTOC) --python_out=$$tmp --grpc_python_out=$$tmp \
	  --mypy_out=$$tmp --mypy_grpc_out=$$tmp $(PROTOS) && \
	diff -r -x '__init__.py' -x '__pycache__' $$tmp/modelreg/api/v1 $(GEN_DIR)/modelreg/api/v1 \
	  && echo "generated code is up to date" \
	  || { echo "generated code is stale: run 'make proto'"; rm -rf $$tmp; exit 1; }; rm -rf $$tmp

buf-lint: $(STAMP) ## Lint proto/ with buf (rules in proto/buf.yaml)
	$(BUF) lint proto

buf-breaking: $(STAMP) ## Fail on wire/JSON-breaking proto changes since the last commit (BUF_AGAINST)
	$(BUF) breaking proto --against '$(BUF_AGAINST)'

sync: $(STAMP) ## Regenerate the sync client (client/modelreg/_sync) from client/modelreg/_async
	$(PY) client/tools/unasync.py

sync-check: $(STAMP) ## Fail if client/modelreg/_sync is stale (edit _async/, then make sync)
	@$(PY) client/tools/unasync.py --check

bench: $(STAMP) ## Print latency/throughput ratios against a bare gRPC echo (same run)
	$(PY) -m bench.registry_bench $(BENCH_ARGS)

clean: ## Remove the virtualenv, caches and local embedded data (.modelreg/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info client/*.egg-info .modelreg
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: help venv run test lint fmt proto proto-check sync sync-check buf-lint buf-breaking bench \
  clean
