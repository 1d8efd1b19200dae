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

.PHONY: test demo bench fuzz fuzz-smoke cargo-fuzz lint unit integration templates sam-build sam-local cargo-lambda-local release toolchain

## test: formatting, lints, unit and SDK-mock tests, the real binary on the emulator, templates, SAM build, fuzz smoke
test: toolchain lint unit integration templates sam-build sam-local cargo-lambda-local fuzz-smoke

## toolchain: the Rust version rust-toolchain.toml pins (linked from the installed stable; nothing downloads)
toolchain:
	@.ci/toolchain.sh

## demo: deploy on the local emulator through the real binary, then show an explained rollback
demo: toolchain $(BIN) $(VENV)/.installed
	$(VENV)/bin/python tests/demo.py

lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

unit:
	$(CARGO_TEST)

integration: $(BIN) $(VENV)/.installed
	cd tests && ../$(VENV)/bin/python -m pytest -q -p no:cacheprovider integration

## templates: cfn-lint, sam validate --lint, checkov (also on the expanded templates, every option on) for template.yaml and
## target-account-role.yaml; what the policies become for given parameters; the buildspec with stubs
templates: $(VENV)/.installed $(VENV_SAM)/.installed $(VENV_CHECKOV)/.installed
	$(VENV_SAM)/bin/cfn-lint template.yaml target-account-role.yaml
	for t in template.yaml target-account-role.yaml; do \
	  AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(VENV_SAM)/bin/sam validate --lint --template $$t || exit 1; done
	@mkdir -p .build
	AWS_DEFAULT_REGION=us-east-1 $(VENV_SAM)/bin/python tests/templates/expand.py template.yaml .build/template-expanded.json
	AWS_DEFAULT_REGION=us-east-1 $(VENV_SAM)/bin/python tests/templates/expand.py target-account-role.yaml .build/target-account-role-expanded.json
	$(VENV_CHECKOV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
	  -f template.yaml -f .build/template-expanded.json -f target-account-role.yaml -f .build/target-account-role-expanded.json
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/templates

## sam-build: the deployment package as SAM builds it (cargo-lambda with zig), for x86_64 by default
SAM_ARCH ?= x86_64
sam-build: $(VENV_SAM)/.installed
	PATH="$(CURDIR)/$(VENV_SAM)/bin:$$PATH" AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
	  $(VENV_SAM)/bin/sam build --build-dir .build/sam \
	  --parameter-overrides Architecture=$(SAM_ARCH) ClusterName=demo ServiceName=web AllowedArtifactBuckets=demo-artifacts ExecutionRoleArn=arn:aws:iam::123456789012:role/demo
	@ls -l .build/sam/Deployer/bootstrap

## sam-local: `sam local invoke` of the SAM-built function in Docker against the emulator (tests/local/run.py);
## one line and no failure when Docker is unusable (.ci/run starts a Docker daemon in CI)
SAM_LOCAL_IMAGE ?= ecs-deployer/provided-standin:al2023
sam-local: sam-build $(VENV)/.installed
	$(VENV)/bin/python tests/local/run.py sam --sam $(CURDIR)/$(VENV_SAM)/bin/sam --image $(SAM_LOCAL_IMAGE) --arch $(SAM_ARCH)

## cargo-lambda-local: README's `cargo lambda watch` + `cargo lambda invoke --data-file events/…` against the emulator
cargo-lambda-local: $(VENV)/.installed $(VENV_SAM)/.installed
	PATH="$(CURDIR)/$(VENV_SAM)/bin:$$PATH" $(VENV)/bin/python tests/local/run.py cargo-lambda --cargo-lambda $(CURDIR)/$(VENV_SAM)/bin/cargo-lambda

## fuzz: every fuzz target for FUZZ_SECONDS each (default 600); fuzz-smoke: 15 s each, part of make test
fuzz: cargo-fuzz
	fuzz/run.sh $(FUZZ_SECONDS) grow

fuzz-smoke: cargo-fuzz
	fuzz/run.sh 15

cargo-fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2

## bench: this function against the Python/boto3 peer on the emulator; writes BENCHMARKS.md
bench: toolchain $(BIN) $(VENV)/.bench-installed
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

release: $(BIN)

$(BIN): $(RUST_SOURCES)
	cargo build --locked --release
	@ls -l $(BIN)

$(VENV)/.bench-installed: bench/requirements.txt $(VENV)/.installed
	$(VENV)/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
	touch $@

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
