'use strict'
// Shared by the examples: the controller from the environment (USHER_URL,
// USHER_PRINCIPAL, USHER_PASSWORD, as the CLI reads them) and the sessions
// the examples act on, so each example runs to completion by itself.
const usher = require('usher-client')

const url = process.env.USHER_URL || 'ws://127.0.0.1:8080'

/** Connects the controller as USHER_PRINCIPAL with USHER_PASSWORD. */
function controller() {
  return usher.connect({ url, principal: process.env.USHER_PRINCIPAL, password: process.env.USHER_PASSWORD })
}

/** An anonymous session with one user property, standing in for a client application. */
function clientWith(key, value, options = {}) {
  return usher.connect({ url, properties: { [key]: value }, ...options })
}

/** A value unique to this run, so examples sharing a server do not meet. */
const runTag = `${process.pid}-${Date.now()}`

/** Runs an async main; a failure prints the error and exits with 1. */
function run(main) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}

module.exports = { usher, url, controller, clientWith, runTag, run }
