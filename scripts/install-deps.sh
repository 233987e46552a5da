#!/usr/bin/env bash
# Installs what `make test` needs and is missing. Idempotent: each step checks
# first, so a second run does nothing but look.
set -euo pipefail

need_apt=()
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
# `python3 -m venv` needs ensurepip, which Debian ships separately.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
cd "$(dirname "$0")/.."

# The project venv (.venv/): maturin, pytest, mypy, tree-sitter-swift. A stamp
# of the requirements file makes a second run a no-op.
req=scripts/requirements-dev.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "install-deps: .venv (pip install -r $req)"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
fi

# The Node package's dev dependencies (@napi-rs/cli, typescript), exactly as locked.
lock=bindings-node/package-lock.json
stamp=bindings-node/node_modules/.lock.sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "install-deps: npm ci in bindings-node"
    (cd bindings-node && npm ci --silent --no-audit --no-fund)
    echo "$want" >"$stamp"
fi
echo "install-deps: ok"
