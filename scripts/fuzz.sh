#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60):
#   bash scripts/fuzz.sh 300            # all three targets
#   bash scripts/fuzz.sh 300 hello      # one target
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); builds with the
# installed stable toolchain. `-s none`: the sanitizers need nightly, which
# this project does not use. Each target starts from its checked-in
# regressions (fuzz/regressions/<target>/) plus its working corpus
# (fuzz/corpus/<target>/, not checked in). A crash leaves its input under
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ with the fix,
# so `cargo test` (server/tests/fuzz_regressions.rs) replays it for good.
set -euo pipefail

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(filter_parse protocol_decode hello)
fi
cd "$(dirname "$0")/../fuzz"

if ! cargo fuzz --help >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
    exit 1
fi

for target in "${targets[@]}"; do
    echo "fuzz.sh: $target for ${seconds}s"
    mkdir -p "corpus/$target"
    cargo fuzz run -s none "$target" "corpus/$target" "regressions/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1
done
