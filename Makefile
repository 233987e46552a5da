# The one task runner: the README and CI (.ci/run) call these targets, so a
# local run and CI are the same thing.
#
#   make server   run usher-server on its embedded default (127.0.0.1:8080)
#   make test     install what is missing, then run every test in the repo
#   make bench    run the benchmarks at full size (prints BENCH lines)
#   make fuzz     run each fuzz target for FUZZ_SECONDS (not part of `test`)
#   make python-test / node-test / swift-check   one language binding end to end
#   make swift-generate   regenerate the checked-in UniFFI Swift bindings

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
FUZZ_SECONDS ?= 60

.PHONY: server test deps lint rust-test bench-smoke bench fuzz python-test node-test swift-check swift-generate

server:
	$(CARGO) run -p usher-server

test: deps lint rust-test bench-smoke python-test node-test swift-check
	@echo "make test: all steps passed"

# Installs what the tests need and is missing (idempotent; quick when present).
deps:
	bash scripts/install-deps.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test:
	$(CARGO) test --workspace

# A smoke size of every benchmark, so they never rot (seconds, not minutes).
bench-smoke:
	$(CARGO) run -q -p usher-bench --bin filter-eval -- --sessions 20000 --runs 3
	$(CARGO) run -q -p usher-bench --bin cluster-latency -- --sessions 20 --ops 100 --runs 3

bench:
	$(CARGO) run -q --release -p usher-bench --bin filter-eval -- --sessions 1000000 --runs 5
	$(CARGO) run -q --release -p usher-bench --bin cluster-latency -- --sessions 1000 --ops 2000 --runs 5

# The bindings, each end to end (see scripts/*.sh). Debug builds; each script
# builds only its own crate (usher-server comes from rust-test's build).
python-test: deps
	bash scripts/python-test.sh

node-test: deps
	bash scripts/node-test.sh

swift-check: deps
	bash scripts/swift-check.sh

swift-generate:
	bash scripts/uniffi-gen.sh --write

fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)
