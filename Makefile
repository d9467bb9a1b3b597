# availability-server — every entry point a person or CI needs.
# `make run` starts the server with working defaults; `make test` is what CI runs.

CARGO ?= cargo
DATA_DIR ?= ./data
HTTP_LISTEN ?= 127.0.0.1:8080
ARGS ?=

.PHONY: all build release run test lint fmt bench loadtest compare syscalls writes openloop tls pinning startup fuzz mutants clean

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release --workspace

# HTTPS on 0.0.0.0:8443 (self-signed certificate created in $(DATA_DIR) on first
# start), plain HTTP on $(HTTP_LISTEN) for local curl, admin on 127.0.0.1:9090.
# The first start prints a generated API key once. Other flags go in ARGS.
# The binary `release` built, not `cargo run --bin`: that builds the server alone,
# with other dependency features than the workspace build, so a second compile, and
# a different binary from the one the benchmark scripts measure.
run: release
	./target/release/availability-server \
		--data-dir $(DATA_DIR) --http-listen $(HTTP_LISTEN) $(ARGS)

# Formatting, lints as errors, every test in the workspace, then the fuzz seeds and
# regressions replayed through the fuzz checks (stable toolchain, no libFuzzer).
# tests/durability_syscalls.rs and tests/read_path_syscalls.rs trace the binary with
# strace: installed here when missing and apt can (root); without it they say SKIPPED.
test: lint
	@command -v strace >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get install -y -qq strace >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq strace >/dev/null)); } || true
	$(CARGO) test --workspace
	$(CARGO) test --manifest-path fuzz/Cargo.toml --test seeds

# fuzz/ is its own workspace (see fuzz/Cargo.toml), so it is named separately.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml

bench:
	$(CARGO) bench --bench core

loadtest: release
	./scripts/loadtest.sh

compare: release
	./scripts/compare.sh

syscalls: release
	./scripts/syscalls.sh

writes: release
	./scripts/writes.sh

openloop: release
	./scripts/openloop.sh

tls: release
	./scripts/tls.sh

pinning: release
	./scripts/pinning.sh

startup: release
	./scripts/startup.sh

fuzz:
	./scripts/fuzz.sh

# Mutation testing of week/, store/, snapshot/, auth/ (not in `test`: ~1.5 h on 2 cores).
mutants:
	./scripts/mutants.sh

clean:
	$(CARGO) clean
