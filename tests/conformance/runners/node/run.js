'use strict'
// Runs every conformance scenario through the Node binding and writes
// target/conformance/node.json (scenario -> pass/fail + message):
//
//   node tests/conformance/runners/node/run.js [--only NAME-PART]
//
// Each scenario gets a fresh usher-server (port 0 on 127.0.0.1), started by
// the Node binding's own test helper, or the peers it asks for (./peers.js).

const fs = require('node:fs')
const path = require('node:path')
const { startPeers } = require('./peers')
const { backend } = require('./backend')
const { Run, Failure } = require('./interp')

const ROOT = path.resolve(__dirname, '..', '..', '..', '..')
const SCENARIO_TIMEOUT_MS = 120000

async function runOne(scenario) {
  const server = await startPeers(scenario)
  let timer
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`scenario not done within ${SCENARIO_TIMEOUT_MS} ms`)), SCENARIO_TIMEOUT_MS)
    })
    await Promise.race([new Run(backend, server, scenario).run(), timeout])
  } finally {
    clearTimeout(timer)
    await server.stop()
  }
}

async function main() {
  const onlyAt = process.argv.indexOf('--only')
  const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : null
  const folder = path.join(ROOT, 'tests', 'conformance', 'scenarios')
  const names = fs.readdirSync(folder).filter((f) => f.endsWith('.json')).sort()
  const results = {}
  for (const file of names) {
    const name = file.slice(0, -'.json'.length)
    if (only && !name.includes(only)) continue
    const scenario = JSON.parse(fs.readFileSync(path.join(folder, file), 'utf8'))
    const started = Date.now()
    try {
      await runOne(scenario)
      results[name] = { pass: true, message: '' }
    } catch (e) {
      results[name] = { pass: false, message: e instanceof Failure ? e.message : `${e.name}: ${e.message}\n${e.stack}` }
    }
    const verdict = results[name].pass ? 'pass' : `FAIL ${results[name].message}`
    console.log(`conformance[node] ${name}: ${verdict} (${Date.now() - started} ms)`)
  }
  const target = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'conformance')
  fs.mkdirSync(target, { recursive: true })
  fs.writeFileSync(path.join(target, 'node.json'), JSON.stringify(results, null, 1) + '\n')
  process.exitCode = Object.values(results).every((r) => r.pass) ? 0 : 1
  // Sessions of a failed scenario may still hold the process open.
  setImmediate(() => process.exit())
}

main().catch((e) => {
  console.error(e)
  process.exit(2)
})
