'use strict'
// Runs every examples/node/*.js in DIR (default: the repo's examples/node)
// against a fresh usher-server, each as its own process with USHER_URL,
// USHER_PRINCIPAL=control and USHER_PASSWORD set, and a deadline. Used by
// scripts/node-test.sh from the project the packed tarball was installed into.
const { execFile } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { startServer } = require('./server')

const dir = path.resolve(process.argv[2] || path.join(__dirname, '..', '..', 'examples', 'node'))
const examples = fs.readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'common.js').sort()

;(async () => {
  const server = await startServer()
  let failed = 0
  try {
    const env = { ...process.env, USHER_URL: server.url, USHER_PRINCIPAL: 'control', USHER_PASSWORD: server.passwords.control }
    for (const example of examples) {
      const started = Date.now()
      const outcome = await new Promise((resolve) => {
        execFile(process.execPath, [path.join(dir, example)], { cwd: dir, env, timeout: 90000 }, (error, stdout, stderr) =>
          resolve({ error, stdout, stderr }),
        )
      })
      const ms = Date.now() - started
      if (outcome.error) {
        failed++
        console.log(`example ${example}: FAILED after ${ms} ms (${outcome.error.message})\n${outcome.stdout}${outcome.stderr}`)
      } else {
        console.log(`example ${example}: ok in ${ms} ms (${outcome.stdout.trim().split('\n').length} lines of output)`)
      }
    }
  } finally {
    await server.stop()
  }
  if (failed) {
    console.log(`${failed} of ${examples.length} examples failed`)
    process.exit(1)
  }
})()
