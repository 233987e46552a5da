#!/usr/bin/env bash
# The cross-language conformance suite (tests/conformance): every scenario
# through each language's runner, each against fresh real servers (or the
# cluster / fake peer that usher-conformance's helper starts: nats-server is
# needed), then the parity table (scenarios x languages), which fails unless
# every cell passes.
#
# It reuses what the binding steps built and builds nothing heavy itself:
#   python: the venv with the usher wheel (scripts/python-test.sh)
#   node:   the debug addon in bindings-node (scripts/node-test.sh)
#   swift:  the UniFFI Python module in target/uniffi-python (scripts/swift-check.sh)
# `make conformance` therefore runs after those (as `make test` does).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
venv=${PYTHON_TEST_VENV:-$target/python-test-venv}
runners=tests/conformance/runners

need() {
    if [ ! -e "$1" ]; then
        echo "conformance: $1 is missing: run $2 first (make test runs it before this)" >&2
        exit 1
    fi
}
need "$venv/bin/python" "make python-test"
need "$target/uniffi-python/usher_swift.py" "make swift-check"
ls bindings-node/*.node >/dev/null 2>&1 || need bindings-node/usher.node "make node-test"

cargo build -q -p usher-server -p usher-conformance
rm -rf "$target/conformance"
started=$(date +%s)
# Each runner writes target/conformance/<lang>.json; a failing runner does not
# stop the others, so the table shows every cell.
echo "conformance: rust";   "$target/debug/usher-conformance" || true
echo "conformance: python"; (cd $runners/python && "$venv/bin/python" run.py --backend usher) || true
echo "conformance: node";   node $runners/node/run.js || true
echo "conformance: swift (UniFFI Python)"; (cd $runners/python && "$root/.venv/bin/python" run.py --backend uniffi) || true
echo "conformance: runners took $(( $(date +%s) - started )) s"
echo
python3 tests/conformance/report.py
