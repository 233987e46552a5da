'use strict'
// Starts a real `usher-server` for tests: port 0 on 127.0.0.1, the three
// embedded principals' passwords set, and the URL read from the server's
// `usher-server listening on ws://IP:PORT` line with a deadline.

const { spawn, execFileSync } = require('node:child_process')
const { randomBytes } = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')

const ROOT = path.resolve(__dirname, '..', '..')
const LISTENING = /^usher-server listening on (ws:\/\/(\d+\.\d+\.\d+\.\d+):(\d+))\s*$/

/** The binary is still the stub that prints "not implemented yet". */
class ServerNotImplemented extends Error {}

/**
 * `target/debug/usher-server` of this workspace (`target/release/...` with
 * USHER_SERVER_PROFILE=release, for benchmarks), built when missing.
 */
function serverBinary() {
  const target = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target')
  const profile = process.env.USHER_SERVER_PROFILE === 'release' ? 'release' : 'debug'
  const binary = path.join(target, profile, 'usher-server')
  if (!fs.existsSync(binary)) {
    const release = profile === 'release' ? ['--release'] : []
    execFileSync('cargo', ['build', '-q', ...release, '-p', 'usher-server'], { cwd: ROOT, stdio: 'inherit' })
  }
  return binary
}

/**
 * Starts the server and resolves once it listens. Rejects with
 * ServerNotImplemented for the stub binary, and with an Error otherwise.
 */
function startServer({ deadlineMs = 30000 } = {}) {
  const passwords = {}
  for (const p of ['admin', 'control', 'client']) passwords[p] = randomBytes(12).toString('base64url')
  const env = { ...process.env }
  for (const [p, pw] of Object.entries(passwords)) env[`USHER_${p.toUpperCase()}_PASSWORD`] = pw
  const child = spawn(serverBinary(), ['--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const output = []
  return new Promise((resolve, reject) => {
    let settled = false
    const settle = (fn, value) => {
      if (!settled) {
        settled = true
        clearTimeout(timer)
        fn(value)
      }
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      settle(reject, new Error(`usher-server printed no listening line in ${deadlineMs} ms: ${output.join('')}`))
    }, deadlineMs)
    child.stderr.on('data', (d) => output.push(String(d)))
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      output.push(line + '\n')
      const m = LISTENING.exec(line)
      if (m) {
        const stop = () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode)
            child.once('exit', (code) => done(code))
            child.kill('SIGTERM')
          })
        settle(resolve, { url: m[1], host: m[2], port: Number(m[3]), passwords, process: child, stop })
      }
    })
    child.on('error', (e) => settle(reject, e))
    child.on('exit', (code) => {
      const text = output.join('')
      if (text.includes('not implemented yet')) settle(reject, new ServerNotImplemented(text.trim()))
      else settle(reject, new Error(`usher-server exited (${code}) before listening: ${JSON.stringify(text)}`))
    })
  })
}

/**
 * For node:test: a started server, or a skip reason while the workspace's
 * binary is the stub (unless USHER_REQUIRE_SERVER=1).
 */
async function serverOrSkip(t) {
  try {
    return await startServer()
  } catch (e) {
    if (e instanceof ServerNotImplemented && process.env.USHER_REQUIRE_SERVER !== '1') {
      t.skip(`usher-server binary is still the stub (${e.message}); merge the server branch`)
      return null
    }
    throw e
  }
}

module.exports = { startServer, serverOrSkip, ServerNotImplemented }
