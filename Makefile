# The two commands: `make demo` (the whole deploy on the local emulator) and `make test` (every test).
# Everything is installed project-locally: Python tools into .venv*, crates by cargo.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_SAM := .venv-sam
VENV_CHECKOV := .venv-checkov
BIN := target/release/ecs-deployer
RUST_SOURCES := Cargo.toml Cargo.lock $(shell find src -name '*.rs')
CARGO_TEST := $(if $(shell command -v cargo-nextest),cargo nextest run --locked --no-fail-fast,cargo test --locked)
FUZZ_SECONDS ?= 600

.PHONY: test demo bench fuzz fuzz-smoke lint unit integration templates release

## test: formatting, lints, unit and SDK-mock tests, the real binary on the emulator, templates, fuzz smoke
test: lint unit integration templates fuzz-smoke

## demo: deploy on the local emulator through the real binary, then show an explained rollback
demo: $(BIN) $(VENV)/.installed
	$(VENV)/bin/python tests/demo.py

lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

unit:
	$(CARGO_TEST)

integration: $(BIN) $(VENV)/.installed
	cd tests && ../$(VENV)/bin/python -m pytest -q -p no:cacheprovider integration

release: $(BIN)

$(BIN): $(RUST_SOURCES)
	cargo build --locked --release
	@ls -l $(BIN)

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $@

$(VENV_SAM)/.installed: tests/requirements-sam.txt
	$(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/pip install -q --disable-pip-version-check -r tests/requirements-sam.txt
	touch $@

$(VENV_CHECKOV)/.installed: tests/requirements-checkov.txt
	$(PYTHON) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/pip install -q --disable-pip-version-check -r tests/requirements-checkov.txt
	touch $@
