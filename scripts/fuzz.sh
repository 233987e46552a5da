#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60):
#   bash scripts/fuzz.sh 300
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); builds with the
# installed stable toolchain. `-s none`: the sanitizers need nightly, which
# this project does not use. A crash leaves its input under fuzz/artifacts/.
set -euo pipefail

seconds="${1:-60}"
cd "$(dirname "$0")/../fuzz"

if ! cargo fuzz --help >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
    exit 1
fi

for target in filter_parse protocol_decode; do
    echo "fuzz.sh: $target for ${seconds}s"
    cargo fuzz run -s none "$target" -- -max_total_time="$seconds"
done
