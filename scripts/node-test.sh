#!/usr/bin/env bash
# The Node binding end to end, as a user gets it: napi builds the addon
# (debug) and regenerates index.js/index.d.ts (which must match the checked-in
# ones), tsc type-checks a TypeScript user of the package, node --test runs
# the tests, then `npm pack` -> tarball -> installed into an empty project
# where a smoke script and every examples/node script run.
set -euo pipefail
cd "$(dirname "$0")/../bindings-node"
root=$(cd .. && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

# The real-server helper runs the workspace's binary: make sure it is current.
(cd .. && cargo build -q -p usher-server)
echo "node-test: napi build (debug)"
npx --no-install napi build --platform --js index.js --dts index.d.ts
if ! git diff --quiet -- index.js index.d.ts; then
    git --no-pager diff --stat -- index.js index.d.ts
    echo "node-test: the generated index.js/index.d.ts differ from the checked-in ones; commit them" >&2
    exit 1
fi

echo "node-test: tsc --noEmit"
npx --no-install tsc -p test/tsconfig.json

echo "node-test: node --test"
node --test test/*.test.js

echo "node-test: P9 benchmark, smoke size (debug builds: the numbers mean nothing here)"
(cd .. && cargo build -q -p usher-bench --bin p9-node-baseline)
node bench/p9.js --ops 200 --runs 3

echo "node-test: npm pack -> install into an empty project -> smoke"
pack=$target/node-pack
rm -rf "$pack" && mkdir -p "$pack/project"
tarball=$(npm pack --silent --pack-destination "$pack" | tail -1)
cd "$pack/project"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "$pack/$tarball"
cat > smoke.js <<'JS'
const usher = require('usher-client')
const assert = require('node:assert/strict')
assert.equal(usher.parseSessionId(' 8F3A2C41D09E7B15-0000000000000007 '), '8f3a2c41d09e7b15-0000000000000007')
try {
  usher.parseSessionId('nope')
  assert.fail('no error')
} catch (e) {
  assert.ok(usher.isUsherError(e) && e.code === 'INVALID_ARGUMENT')
}
usher._echoAfter('packed', 1).then(([v, thread]) => {
  assert.deepEqual([v, thread], ['packed', 'usher-rt'])
  console.log(`smoke: usher-client ${usher.version()} from the tarball works`)
})
JS
node smoke.js

echo "node-test: the examples, run from the installed package against a fresh server"
cp -r "$root/examples/node" examples
node "$root/bindings-node/test/run-examples.js" examples
