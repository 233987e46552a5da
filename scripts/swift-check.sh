#!/usr/bin/env bash
# What verifies the Swift binding without a Swift compiler (SPEC §10):
#   1. the checked-in generated Swift/header/modulemap equal a fresh
#      regeneration by the workspace's uniffi-bindgen (no drift);
#   2. every .swift file of the repository parses (tree-sitter-swift), and
#      the checker itself catches broken Swift (its own tests);
#   3. the same interface, through UniFFI's generated Python, passes pytest.
# With a Swift toolchain on the PATH it also runs `swift build` + `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real-server fixture runs the workspace's binary: make sure it is current.
cargo build -q -p usher-server
echo "swift-check: generated bindings vs a fresh regeneration"
bash scripts/uniffi-gen.sh --check

echo "swift-check: tree-sitter-swift syntax check"
.venv/bin/python scripts/swift_syntax_check.py

echo "swift-check: pytest (UniFFI Python bindings + the checker's own tests)"
(cd bindings-swift && ../.venv/bin/python -m pytest -q -p no:cacheprovider -rs)

if command -v swift >/dev/null 2>&1; then
    echo "swift-check: swift test"
    (cd bindings-swift && swift test)
else
    echo "swift-check: no Swift toolchain here; swift build/test not run (see bindings-swift/README.md)"
fi
