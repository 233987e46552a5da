'use strict'
// Self-test of the real-server helper the API tests will use.
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { serverOrSkip } = require('./server')

test('the server listens on a loopback port', async (t) => {
  const server = await serverOrSkip(t)
  if (!server) return
  try {
    assert.match(server.url, /^ws:\/\/127\.0\.0\.1:\d+$/)
    assert.notEqual(server.port, 0)
    await new Promise((resolve, reject) => {
      const socket = net.connect(server.port, server.host, () => {
        socket.end()
        resolve()
      })
      socket.on('error', reject)
    })
    assert.deepEqual(Object.keys(server.passwords).sort(), ['admin', 'client', 'control'])
  } finally {
    await server.stop()
  }
})
