#!/usr/bin/env bash
# Generates the UniFFI bindings of bindings-swift from the built library
# (library mode) with the workspace's own uniffi-bindgen:
#   - Swift source, FFI header and modulemap into the Swift package
#     (bindings-swift/Sources), with --write;
#   - the same into a temporary directory, compared with the checked-in files
#     (fails on any drift), with --check (the default);
#   - always: the Python bindings + the library into target/uniffi-python,
#     which the UniFFI pytest suite imports.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:---check}
target=${CARGO_TARGET_DIR:-$PWD/target}
pkg=bindings-swift

# One build gives both the library and the generator (same uniffi version).
cargo build -q -p usher-swift --features bindgen --lib --bin uniffi-bindgen
lib=$target/debug/libusher_swift.so
[ "$(uname)" = Darwin ] && lib=$target/debug/libusher_swift.dylib
bindgen=$target/debug/uniffi-bindgen

gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
# swift-format is not needed (and usually absent): the output is checked in as generated.
"$bindgen" generate --library "$lib" --language swift --out-dir "$gen" 2>&1 | { grep -v "swift-format" || true; }
mkdir -p "$gen/pkg/Sources/Usher" "$gen/pkg/Sources/UsherFFI"
mv "$gen/Usher.swift" "$gen/pkg/Sources/Usher/Usher.swift"
mv "$gen/UsherFFI.h" "$gen/pkg/Sources/UsherFFI/UsherFFI.h"
# SwiftPM's system-library target wants the name module.modulemap.
mv "$gen/UsherFFI.modulemap" "$gen/pkg/Sources/UsherFFI/module.modulemap"

generated=(Sources/Usher/Usher.swift Sources/UsherFFI/UsherFFI.h Sources/UsherFFI/module.modulemap)
case "$mode" in
--write)
    for f in "${generated[@]}"; do
        mkdir -p "$(dirname "$pkg/$f")"
        cp "$gen/pkg/$f" "$pkg/$f"
    done
    echo "uniffi-gen: wrote ${generated[*]} into $pkg"
    ;;
--check)
    drift=0
    for f in "${generated[@]}"; do
        if ! diff -u "$pkg/$f" "$gen/pkg/$f" >"$gen/diff" 2>&1; then
            echo "uniffi-gen: $pkg/$f differs from a fresh regeneration:" >&2
            head -40 "$gen/diff" >&2
            drift=1
        fi
    done
    if [ "$drift" = 1 ]; then
        echo "uniffi-gen: run 'make swift-generate' and commit the result" >&2
        exit 1
    fi
    echo "uniffi-gen: the checked-in Swift/header/modulemap match a fresh regeneration"
    ;;
*)
    echo "usage: $0 [--check|--write]" >&2
    exit 2
    ;;
esac

py=$target/uniffi-python
rm -rf "$py" && mkdir -p "$py"
"$bindgen" generate --library "$lib" --language python --out-dir "$py" >/dev/null
cp "$lib" "$py/"
