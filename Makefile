# Boreas — the two commands: `make dev` runs the platform locally, `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
CARGO ?= cargo

.PHONY: dev test venv lint bench

## Project-local virtualenv with the pinned emulator and template tools.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

dev: venv
	$(CARGO) run --release -p boreas-cli --bin boreas -- dev

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test: venv lint
	npm ci --prefix statemachine --no-audit --no-fund
	$(CARGO) test --workspace --locked --no-fail-fast

bench:
	$(CARGO) bench --workspace --locked
