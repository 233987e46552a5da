# The one task runner: the README and CI (.ci/run) call these targets, so a
# local run and CI are the same thing.
#
#   make server   run usher-server on its embedded default (127.0.0.1:8080)
#   make test     install what is missing, then run every test in the repo
#   make bench    run the benchmarks at full size (prints BENCH lines)
#   make fuzz     run each fuzz target for FUZZ_SECONDS (not part of `test`)
#   make soak     the soak for SOAK_DURATION on release builds (not part of `test`)
#   make python-test / node-test / swift-check   one language binding end to end
#   make conformance   the cross-language suite and its parity table (after the three above)
#   make swift-generate   regenerate the checked-in UniFFI Swift bindings

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
FUZZ_SECONDS ?= 60

.PHONY: server test deps lint rust-test bench-smoke bench node-bench fuzz soak python-test node-test swift-check swift-generate conformance

server:
	$(CARGO) run -p usher-server

test: deps lint rust-test bench-smoke python-test node-test swift-check conformance
	@echo "make test: all steps passed"

# Installs what the tests need and is missing (idempotent; quick when present).
deps:
	bash scripts/install-deps.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test:
	$(CARGO) test --workspace

# A smoke size of every benchmark, so they never rot (seconds, not minutes):
# debug builds, one repetition, a few hundred sessions; still prints every line.
# The soak runs 30 s here (fails if memory or descriptors drift or the server
# dies); `make soak SOAK_DURATION=10m` is the long run (release build).
bench-smoke:
	$(CARGO) build -q -p usher-bench -p usher-server
	$(CARGO) run -q -p usher-bench --bin filter-eval -- --sessions 20000 --runs 3
	$(CARGO) run -q -p usher-bench --bin cluster-latency -- --sessions 20 --ops 100 --runs 3
	$(CARGO) run -q -p usher-bench --bin usher-bench -- --smoke
	$(CARGO) run -q -p usher-bench --bin soak -- --duration 30s --interval 5s
	bash scripts/p9-bench.sh

# Every scenario of SPEC §9 at full size on release builds (docs/PERFORMANCE.md).
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--only P2,P3".
BENCH_ARGS ?=
bench: node-bench
	$(CARGO) build -q --release -p usher-bench -p usher-server
	$(CARGO) run -q --release -p usher-bench --bin filter-eval -- --sessions 1000000 --runs 5
	$(CARGO) run -q --release -p usher-bench --bin cluster-latency -- --sessions 1000 --ops 2000 --runs 5
	$(CARGO) run -q --release -p usher-bench --bin usher-bench -- $(BENCH_ARGS)
	bash scripts/p9-bench.sh --release

# P9 for Node: release server, release Rust baseline, release addon. (The
# smoke size runs inside node-test, where the addon is built.)
node-bench: deps
	$(CARGO) build -q --release -p usher-server
	$(CARGO) build -q --release -p usher-bench --bin p9-node-baseline
	cd bindings-node && npx --no-install napi build --platform --release --js index.js --dts index.d.ts
	cd bindings-node && USHER_SERVER_PROFILE=release node bench/p9.js --profile release --ops 20000 --runs 5

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

# Every scenario of tests/conformance in Rust, Python, Node and Swift (UniFFI
# Python), then the parity table; reuses what the three targets above built.
conformance: deps
	bash scripts/conformance.sh

fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

# The soak at length (docs/SECURITY.md): release builds, one reading a minute.
SOAK_DURATION ?= 10m
soak:
	$(CARGO) build -q --release -p usher-bench -p usher-server
	$(CARGO) run -q --release -p usher-bench --bin soak -- --duration $(SOAK_DURATION) --interval 60s
