#!/usr/bin/env bash
# The Python binding end to end, as a user gets it: maturin builds the wheel
# (debug), a fresh venv installs it with the test requirements, mypy --strict
# checks the package's types and the typed tests, pytest runs the tests
# against the installed wheel (not the source tree).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
wheels=$target/python-wheels
venv=$target/python-test-venv

# The real-server fixture runs the workspace's binary: make sure it is current.
cargo build -q -p usher-server -p usher-bench --bin usher-server --bin p9-rust-baseline
rm -rf "$wheels"
echo "python-test: maturin build (debug)"
.venv/bin/maturin build --quiet -m bindings-python/Cargo.toml -i "$(command -v python3)" --out "$wheels"
wheel=$(ls "$wheels"/usher-*.whl)

echo "python-test: fresh venv + pip install $(basename "$wheel")"
python3 -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" -r bindings-python/requirements-test.txt

echo "python-test: mypy --strict (installed package, examples, typed tests)"
(cd examples/python && "$venv/bin/mypy" --strict --no-incremental --cache-dir /dev/null .)
cd bindings-python/tests
"$venv/bin/mypy" --strict --no-incremental --cache-dir /dev/null -p usher
"$venv/bin/mypy" --strict --no-incremental --cache-dir /dev/null .
echo "python-test: pytest"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
cd "$root"
echo "python-test: P9 benchmark, smoke size"
PYTHON_TEST_VENV=$venv bash scripts/p9-bench.sh
