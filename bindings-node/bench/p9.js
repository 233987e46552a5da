'use strict'
// P9 (SPEC §9): the Node binding's overhead per control op over the Rust
// client. By-id getSessionProperties on the session's own id, 1 and 64 in
// flight, OPS ops per run, RUNS runs (after a warm-up run), against one
// usher-server; the Rust client does the same loop (bench bin
// p9-node-baseline) and the difference per op is the overhead.
//
//   node bench/p9.js [--ops N] [--runs R] [--profile debug|release]
//
// Prints `BENCH P9 node_overhead_<k>=<median> us (min .., max .., n=R)`.
const { execFile } = require('node:child_process')
const path = require('node:path')
const { startServer } = require('../test/server')

const argv = process.argv.slice(2)
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt)
const OPS = Number(opt('--ops', '20000'))
const RUNS = Number(opt('--runs', '3'))
const PROFILE = opt('--profile', 'debug')
const ROOT = path.resolve(__dirname, '..', '..')
const target = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target')
const usher = require('..')

async function nodeRuns(session, inFlight) {
  const id = session.id
  const c = session.clients
  const out = []
  for (let run = 0; run <= RUNS; run++) {
    let left = OPS
    const started = process.hrtime.bigint()
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (left > 0) {
          left--
          await c.getSessionProperties(id, ['$SessionId'])
        }
      }),
    )
    const us = Number(process.hrtime.bigint() - started) / 1000 / OPS
    if (run > 0) out.push(us)
  }
  return out
}

// Asynchronous on purpose: the server's log pipe must keep draining while the
// baseline runs (a blocked event loop would stall the server on a full pipe).
function rustRuns(url, password, inFlight) {
  const bin = path.join(target, PROFILE, 'p9-node-baseline')
  const args = ['--url', url, '--ops', String(OPS), '--in-flight', String(inFlight), '--runs', String(RUNS)]
  const env = { ...process.env, USHER_PRINCIPAL: 'control', USHER_PASSWORD: password }
  return new Promise((resolve, reject) =>
    execFile(bin, args, { env, encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(new Error(`${bin}: ${error.message}\n${stderr}`)) : resolve([...stdout.matchAll(/us_per_op=([\d.]+)/g)].map((m) => Number(m[1]))),
    ),
  )
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmt = (x) => x.toFixed(2)

;(async () => {
  const server = await startServer()
  try {
    const session = await usher.connect({ url: server.url, principal: 'control', password: server.passwords.control })
    for (const inFlight of [1, 64]) {
      const rust = await rustRuns(server.url, server.passwords.control, inFlight)
      const node = await nodeRuns(session, inFlight)
      const overhead = node.map((n, i) => n - rust[i])
      console.log(`INFO P9 rust_us_per_op_${inFlight}=${fmt(median(rust))} us (min ${fmt(Math.min(...rust))}, max ${fmt(Math.max(...rust))}, n=${rust.length})`)
      console.log(`INFO P9 node_us_per_op_${inFlight}=${fmt(median(node))} us (min ${fmt(Math.min(...node))}, max ${fmt(Math.max(...node))}, n=${node.length})`)
      console.log(
        `BENCH P9 node_overhead_${inFlight}=${fmt(median(overhead))} us (min ${fmt(Math.min(...overhead))}, max ${fmt(Math.max(...overhead))}, n=${overhead.length})`,
      )
    }
    await session.close()
  } finally {
    await server.stop()
  }
})().catch((e) => {
  console.error(e)
  process.exit(1)
})
