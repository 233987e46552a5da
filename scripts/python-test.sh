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
cargo build -q -p usher-server
rm -rf "$wheels"
echo "python-test: maturin build (debug)"
.venv/bin/maturin build --quiet -m bindings-python/Cargo.toml -i "$(command -v python3)" --out "$wheels"
wheel=$(ls "$wheels"/usher-*.whl)

echo "python-test: fresh venv + pip install $(basename "$wheel")"
python3 -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" -r bindings-python/requirements-test.txt

cd bindings-python/tests
echo "python-test: mypy --strict (installed package + typed tests)"
"$venv/bin/mypy" --strict --no-incremental --cache-dir /dev/null -p usher
"$venv/bin/mypy" --strict --no-incremental --cache-dir /dev/null .
echo "python-test: pytest"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
