'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const usher = require('..')

const TEXT = '8f3a2c41d09e7b15-0000000000000007'

test('version is the workspace version', () => {
  assert.match(usher.version(), /^\d+\.\d+\.\d+$/)
  assert.equal(usher.version(), require('../package.json').version)
})

test('session ids: parse to the canonical form, either case, trimmed', () => {
  assert.equal(usher.parseSessionId(TEXT), TEXT)
  assert.equal(usher.parseSessionId(`  ${TEXT.toUpperCase()}\n`), TEXT)
  assert.equal(usher.isSessionId(TEXT), true)
  assert.equal(usher.isSessionId("$Principal is 'a'"), false)
})

test('session ids: parts and format round-trip, with 64-bit values', () => {
  assert.deepEqual(usher.sessionIdParts(TEXT), { server: 0x8f3a2c41d09e7b15n, value: 7n })
  assert.equal(usher.formatSessionId(0x8f3a2c41d09e7b15n, 7n), TEXT)
  assert.equal(usher.formatSessionId(2n ** 64n - 1n, 0n), 'ffffffffffffffff-0000000000000000')
})

for (const bad of ['', 'x', TEXT.slice(0, -1), TEXT + '0', TEXT.replace('-', '_'), '+' + TEXT.slice(1)]) {
  test(`session ids: ${JSON.stringify(bad)} is INVALID_ARGUMENT`, () => {
    assert.throws(
      () => usher.parseSessionId(bad),
      (e) => e instanceof Error && e.code === 'INVALID_ARGUMENT' && e.details.argument === 'session_id',
    )
  })
}

test('session ids: out-of-range parts are INVALID_ARGUMENT', () => {
  for (const [s, v] of [[-1n, 0n], [2n ** 64n, 0n], [0n, -5n]]) {
    assert.throws(() => usher.formatSessionId(s, v), (e) => e.code === 'INVALID_ARGUMENT')
  }
})
