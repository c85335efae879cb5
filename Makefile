# The README's commands. Everything runs inside ./.venv, created on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
# BENCH_ARGS=--short gives the small corpus that CI uses.
BENCH_ARGS ?=

.PHONY: all venv build demo test test-rust lint test-python test-fast bench bench-short fuzz clean

all: build

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet maturin
	$(BIN)/pip install --quiet -e '.[dev,bench,autogen]'
	# mysqlclient (a C extension) builds only where libmariadb-dev is installed
	# (.ci/run installs it); without it its tests in
	# tests/test_gateway_mysql_clients.py skip and say why.
	$(BIN)/pip install --quiet mysqlclient || echo "mysqlclient not installed: install libmariadb-dev (Debian) to test it"
	touch $@

venv: $(VENV)/.stamp

# Build the native extension (release, LTO) into python/limen/ for the venv.
build: venv
	$(BIN)/maturin develop --release --quiet

demo: build
	$(BIN)/limen demo

test: build test-rust lint test-python

test-rust:
	cargo fmt --all --check
	for d in native/*/fuzz; do (cd $$d && cargo fmt --check) || exit 1; done
	cargo test --workspace --all-targets
	cargo test --workspace --doc
	cargo clippy --workspace --all-targets -- -D warnings
	# the fuzz crates are outside the workspace: make sure they still build
	for d in native/*/fuzz; do \
	  CARGO_TARGET_DIR=target/fuzz-check cargo check --quiet --manifest-path $$d/Cargo.toml --bins || exit 1; \
	done

# The tests that need no services (no PostgreSQL or MariaDB; servers a test
# starts itself on 127.0.0.1:0 are fine), in parallel: pytest without the `pg`
# marker (set in tests/conftest.py) or the `mysql` one, and the Rust tests but
# the integration tests against a live server (named live_*.rs). `make test`
# still runs everything.
RUST_TESTS = $(sort $(filter-out live_%,$(notdir $(basename $(wildcard native/*/tests/*.rs))) \
	$(notdir $(patsubst %/main.rs,%,$(wildcard native/*/tests/*/main.rs)))))

test-fast: build
	cargo test --quiet --workspace --lib --bins --examples $(addprefix --test ,$(RUST_TESTS))
	$(BIN)/pytest -q -m "not pg and not mysql" -n auto

lint: venv
	$(BIN)/ruff check python tests benchmarks examples
	$(BIN)/ruff format --check python tests benchmarks examples
	$(BIN)/mypy --strict python/limen
	$(BIN)/mypy --strict examples/autogen/agent.py

# Two workers (pytest-xdist), as CI runs it: the suite is mostly waiting on
# servers and subprocesses, and CI must stay under 30 minutes
# (PYTEST_WORKERS=0 runs it in one process).
PYTEST_WORKERS ?= 2
test-python: build
	$(BIN)/pytest -n $(PYTEST_WORKERS)

bench: build
	$(PY) benchmarks/run.py $(BENCH_ARGS)

bench-short: build
	$(PY) benchmarks/run.py --short

# Run every fuzz target for FUZZ_SECONDS each (needs nightly and cargo-fuzz:
# `cargo install cargo-fuzz`).
FUZZ_SECONDS ?= 60
fuzz:
	for d in native/*/fuzz; do \
	  for t in $$(cd $$d && cargo +nightly fuzz list); do \
	    (cd $$d && cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS)) || exit 1; \
	  done; \
	done

clean:
	rm -rf $(VENV) target python/limen/*.so .pytest_cache .mypy_cache .ruff_cache
