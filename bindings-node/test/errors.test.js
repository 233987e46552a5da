'use strict'
// Every ErrorKind of the core maps to a JS Error with its code (SPEC §4.5).
const test = require('node:test')
const assert = require('node:assert/strict')
const usher = require('..')

const CODES = usher.errorCodes()

test('the core has the thirteen kinds of the spec', () => {
  assert.deepEqual(CODES, [
    'ACCESS_DENIED', 'AUTHENTICATION_FAILED', 'INVALID_FILTER', 'NO_SUCH_SESSION', 'INVALID_ARGUMENT',
    'LIMIT_EXCEEDED', 'HANDLER_CONFLICT', 'SESSION_CLOSED', 'CONNECTION', 'TIMEOUT', 'CLUSTER_ROUTING',
    'PROTOCOL', 'INTERNAL',
  ])
})

for (const code of CODES) {
  test(`${code}: thrown synchronously as an UsherError`, () => {
    assert.throws(
      () => usher._raise(code),
      (e) => e instanceof Error && e.name === 'UsherError' && e.code === code && usher.isUsherError(e),
    )
  })
  test(`${code}: a promise rejects with it`, async () => {
    await assert.rejects(usher._failAfter(code, 1), (e) => e instanceof Error && e.name === 'UsherError' && e.code === code)
  })
}

function caught(code) {
  try {
    usher._raise(code)
  } catch (e) {
    return e
  }
  assert.fail('did not throw')
}

test('details carry the machine-readable part', () => {
  assert.equal(caught('ACCESS_DENIED').details.permission, 'MODIFY_SESSION')
  assert.deepEqual(caught('INVALID_FILTER').details.problems, [
    { line: 1, column: 14, message: "expected a quoted string after 'is'" },
  ])
  assert.deepEqual(caught('LIMIT_EXCEEDED').details, { limit: 'max_targets', key: null, count: null })
  assert.equal(caught('INVALID_ARGUMENT').details.argument, 'roles')
  const routing = caught('CLUSTER_ROUTING').details.result
  assert.equal(routing.total, 3)
  assert.deepEqual(routing.unreachable, ['b'])
  assert.deepEqual(caught('TIMEOUT').details, {})
})

test('isUsherError rejects look-alikes', () => {
  assert.equal(usher.isUsherError(new Error('x')), false)
  assert.equal(usher.isUsherError({ name: 'UsherError', code: 'TIMEOUT' }), false)
  const fake = Object.assign(new Error('x'), { name: 'UsherError', code: 'NOPE' })
  assert.equal(usher.isUsherError(fake), false)
  assert.equal(usher.isUsherError(undefined), false)
})
