# Boreas — the two commands: `make dev` runs the platform locally, `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
CARGO ?= cargo

.PHONY: dev test venv lint bench dashboard debian install agent-deb agent-rpm

## Project-local virtualenv with the pinned emulator and template tools.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## The dashboard's packages and its static build (dashboard/dist, served by `boreas dev`).
dashboard:
	npm ci --prefix dashboard --no-audit --no-fund
	npm run build --prefix dashboard

## Debian packages the suite uses, unless installed (CI runs as root): Chromium and a Chinese font
## for the dashboard's browser test, systemd's tools and rpm for the agent's unit and packages,
## Prometheus for the analysis checks (without its recommended exporters).
debian:
	@{ test -x /usr/bin/chromium && fc-list :lang=zh | grep -q . && command -v systemd-analyze && command -v rpmbuild; } >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei systemd rpm; }
	@command -v prometheus >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

dev: venv dashboard
	$(CARGO) build --release -p boreas-agent
	$(CARGO) run --release -p boreas-cli --bin boreas -- dev

## `boreas` on the PATH (~/.cargo/bin), as the README and the hints of `boreas dev` write it.
install:
	$(CARGO) install --locked --path cli

## The agent's packages in target/package/ from the size-optimised build: a .deb (`dpkg -i`) and
## an RPM (`dnf install ./boreas-agent-*.rpm`).
agent-deb:
	$(CARGO) build --locked --profile agent -p boreas-agent
	agent/package/build-deb target/agent/boreas-agent target/package

agent-rpm:
	$(CARGO) build --locked --profile agent -p boreas-agent
	agent/package/build-rpm target/agent/boreas-agent target/package

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test: venv lint dashboard debian
	npm ci --prefix statemachine --no-audit --no-fund
	npm test --prefix dashboard
	$(CARGO) test --workspace --locked --no-fail-fast
	$(CARGO) build -p boreas-cli -p boreas-agent --locked
	npm run e2e --prefix dashboard

bench:
	$(CARGO) bench --workspace --locked
