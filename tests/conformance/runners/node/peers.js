'use strict'
// What one scenario talks to, for the Node runner: a fresh usher-server
// (most scenarios, started by the Node binding's own test helper), or the
// peer helper the scenario's `cluster` / `fake_server` asks for
// (tests/conformance/README.md, "Peers"). The helper is the Rust runner's
// binary (`usher-conformance cluster ...` or `usher-conformance fake-server`):
// it prints one JSON peer line, answers one line per command, and kills what
// it started when its stdin closes.

const { spawn } = require('node:child_process')
const path = require('node:path')
const readline = require('node:readline')
const { startServer } = require('../../../../bindings-node/test/server')

const ROOT = path.resolve(__dirname, '..', '..', '..', '..')
const START_DEADLINE_MS = 60000
const COMMAND_DEADLINE_MS = 10000

/** `$USHER_CONFORMANCE`, else the workspace's debug build. */
function helperBinary() {
  if (process.env.USHER_CONFORMANCE) return process.env.USHER_CONFORMANCE
  return path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'debug', 'usher-conformance')
}

/** The helper's arguments, or null for one plain server. */
function helperArgs(scenario) {
  if (scenario.cluster !== undefined) {
    const args = ['cluster', '--servers', String(scenario.cluster.servers)]
    if (scenario.cluster.deadline_ms !== undefined) args.push('--deadline-ms', String(scenario.cluster.deadline_ms))
    return args
  }
  return scenario.fake_server === true ? ['fake-server'] : null
}

/** The running helper: lines are queued as they come, awaited with a deadline. */
class Helper {
  constructor(args) {
    this.args = args
    this.child = spawn(helperBinary(), args, { stdio: ['pipe', 'pipe', 'inherit'] })
    this.lines = []
    this.ended = false
    this.wake = () => {}
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.lines.push(line)
      this.wake()
    })
    this.exited = new Promise((resolve) => this.child.once('close', resolve))
    this.exited.then(() => {
      this.ended = true
      this.wake()
    })
    this.child.on('error', () => {
      this.ended = true
      this.wake()
    })
  }

  async next(timeoutMs, what) {
    const end = Date.now() + timeoutMs
    while (this.lines.length === 0) {
      const name = `usher-conformance ${this.args.join(' ')}`
      if (this.ended) throw new Error(`${name} exited before its ${what} (stderr above)`)
      const remaining = end - Date.now()
      if (remaining <= 0) throw new Error(`${name}: no ${what} within ${timeoutMs} ms`)
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, remaining)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    return this.lines.shift()
  }

  /** Sends one command line; resolves to the helper's answer. */
  async command(command) {
    this.child.stdin.write(command + '\n')
    return this.next(COMMAND_DEADLINE_MS, `answer to ${JSON.stringify(command)}`)
  }

  /** Closes its stdin (it kills what it started), killing it if it lingers. */
  async stop() {
    this.child.stdin.end()
    let timer
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve('late'), COMMAND_DEADLINE_MS)))
    if ((await Promise.race([this.exited, late])) === 'late') {
      this.child.kill('SIGKILL')
      await this.exited
    }
    clearTimeout(timer)
  }
}

async function startPeers(scenario) {
  const args = helperArgs(scenario)
  if (args === null) {
    const server = await startServer()
    const command = async (c) => {
      throw new Error(`${JSON.stringify(c)}: this scenario has no cluster (\`cluster\` in the scenario)`)
    }
    return { url: server.url, urls: {}, passwords: server.passwords, command, stop: () => server.stop() }
  }
  const helper = new Helper(args)
  try {
    const line = JSON.parse(await helper.next(START_DEADLINE_MS, 'peer line'))
    return { ...line, command: (c) => helper.command(c), stop: () => helper.stop() }
  } catch (e) {
    await helper.stop()
    throw e
  }
}

module.exports = { startPeers }
