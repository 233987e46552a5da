'use strict'
// The async plumbing: promises settled from the shared runtime without
// blocking the event loop; listeners called back safely.
const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const usher = require('..')

test('a promise is settled from the shared runtime', async () => {
  assert.deepEqual(await usher._echoAfter('hello', 1), ['hello', 'usher-rt'])
})

test('promises run concurrently and leave the event loop free', async () => {
  let ticks = 0
  const timer = setInterval(() => ticks++, 10)
  const start = Date.now()
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => usher._echoAfter(String(i), 200)))
  clearInterval(timer)
  assert.deepEqual(results.map(([v]) => v), Array.from({ length: 20 }, (_, i) => String(i)))
  assert.ok(Date.now() - start < 2000, 'not concurrent')
  assert.ok(ticks >= 5, 'the event loop was blocked')
})

test('listeners, plain and async, are called in order', async () => {
  const seen = []
  assert.equal(await usher._deliver((v) => seen.push(v), ['a', 'b']), 2)
  assert.equal(
    await usher._deliver(async (v) => {
      await new Promise((r) => setTimeout(r, 5))
      seen.push(v.toUpperCase())
    }, ['c']),
    1,
  )
  assert.deepEqual(seen, ['a', 'b', 'C'])
})

test('a throwing or rejecting listener never crashes the process', async () => {
  const unhandled = []
  const onUnhandled = (e) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  try {
    const seen = []
    const flaky = (v) => {
      if (v === 'throw') throw new Error('listener threw')
      if (v === 'reject') return Promise.reject(new Error('listener rejected'))
      seen.push(v)
    }
    assert.equal(await usher._deliver(flaky, ['a', 'throw', 'b', 'reject', 'c']), 3)
    assert.deepEqual(seen, ['a', 'b', 'c'])
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

test('a pending promise keeps Node alive until it settles', () => {
  const script = `require(${JSON.stringify(path.resolve(__dirname, '..'))})._echoAfter('late', 300).then(([v]) => console.log(v))`
  assert.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 }).trim(), 'late')
})
