#!/usr/bin/env bash
# P9 (SPEC §9): the Python binding's overhead per control op over the Rust
# client. `--release`: release server, Rust baseline and wheel, full size
# (`make bench`). Without it: a smoke size with debug builds, in the venv
# python-test made (`make bench-smoke` / the end of scripts/python-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}

if [ "${1:-}" = "--release" ]; then
    cargo build -q --release -p usher-server -p usher-bench --bin usher-server --bin p9-rust-baseline
    wheels=$target/python-wheels-release
    venv=$target/python-bench-venv
    rm -rf "$wheels"
    .venv/bin/maturin build --quiet --release -m bindings-python/Cargo.toml -i "$(command -v python3)" --out "$wheels"
    python3 -m venv --clear "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$wheels"/usher-*.whl
    USHER_SERVER=$target/release/usher-server "$venv/bin/python" bindings-python/bench/p9.py \
        --rust-bin "$target/release/p9-rust-baseline" --ops 20000 --runs 5
else
    venv=${PYTHON_TEST_VENV:-$target/python-test-venv}
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import usher' 2>/dev/null; then
        # A fresh checkout: `make test` runs bench-smoke before python-test,
        # which builds the venv and runs this smoke itself at its end.
        echo "p9-bench: skipped, no venv with usher at $venv yet (python-test runs it)"
        exit 0
    fi
    cargo build -q -p usher-server -p usher-bench --bin usher-server --bin p9-rust-baseline
    "$venv/bin/python" bindings-python/bench/p9.py --rust-bin "$target/debug/p9-rust-baseline" --ops 300 --runs 1
fi
