'use strict'
// The JS thread also watches a session's socket while an answer is due
// (src/watch.rs: an epoll set under a libuv poll handle). These check the
// edges of that: a session ending mid-request, a new session that may get
// the old socket's number, and a worker thread's env being torn down with
// the handle in place (Node aborts on a loop closed with open handles).
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const usher = require('..')
const { startServer } = require('./server')

let server

test.before(async () => {
  server = await startServer()
})
test.after(async () => {
  await server?.stop()
})

const connectControl = () =>
  usher.connect({ url: server.url, principal: 'control', password: server.passwords.control })

test('a session ending mid-request, then a new session: every call settles', async () => {
  const first = await connectControl()
  const pending = first.clients.getSessionProperties(first.id, ['$SessionId'])
  await first.close()
  try {
    // Answered before the close, or failed by it: either way it settles.
    assert.deepEqual(await pending, { $SessionId: first.id })
  } catch (e) {
    assert.equal(e.code, 'SESSION_CLOSED')
  }
  const second = await connectControl()
  for (let i = 0; i < 50; i++) {
    assert.deepEqual(await second.clients.getSessionProperties(second.id, ['$SessionId']), { $SessionId: second.id })
  }
  await second.close()
})

test('a worker thread does client control and exits cleanly', async () => {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads')
    const usher = require(workerData.addon)
    ;(async () => {
      const s = await usher.connect({ url: workerData.url, principal: 'control', password: workerData.password })
      const props = await s.clients.getSessionProperties(s.id, ['$SessionId'])
      await s.close()
      parentPort.postMessage(props.$SessionId === s.id)
    })().catch((e) => parentPort.postMessage(String(e)))
  `
  const worker = new Worker(source, {
    eval: true,
    workerData: { addon: path.resolve(__dirname, '..'), url: server.url, password: server.passwords.control },
  })
  const message = new Promise((resolve) => worker.once('message', resolve))
  const exit = new Promise((resolve) => worker.once('exit', resolve))
  assert.equal(await message, true)
  assert.equal(await exit, 0)
})
