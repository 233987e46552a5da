'use strict'
// The API against a real usher-server: every operation by id and by filter,
// the error codes, listeners, topics, and the process lifetime rules.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')
const readline = require('node:readline')
const usher = require('..')
const { startServer } = require('./server')

let server
let control
let tag = 0

test.before(async () => {
  server = await startServer()
  control = await connectAs('control')
})
test.after(async () => {
  await control?.close()
  await server?.stop()
})

function connectAs(principal, options = {}) {
  return usher.connect({ url: server.url, principal, password: server.passwords[principal], ...options })
}

/** `n` anonymous sessions sharing a fresh `t` property; returns [filter, sessions]. */
async function group(n, options = {}) {
  const t = `g${++tag}`
  const sessions = []
  for (let i = 0; i < n; i++) sessions.push(await usher.connect({ url: server.url, properties: { t }, ...options }))
  return [`t is '${t}'`, sessions]
}

async function closeAll(sessions) {
  await Promise.all(sessions.map((s) => s.close()))
}

function rejectsWith(promise, code, check = () => true) {
  return assert.rejects(promise, (e) => {
    assert.ok(usher.isUsherError(e), `not an UsherError: ${e}`)
    assert.equal(e.code, code, e.message)
    return check(e) !== false
  })
}

/** A promise and its resolve function. */
function signal() {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

test('connect: identity, roles, client type; bad credentials and options reject', async () => {
  assert.match(control.id, /^[0-9a-f]{16}-[0-9a-f]{16}$/)
  assert.deepEqual(control.roles, ['CLIENT_CONTROL', 'TOPIC_CONTROL'])
  assert.equal(control.closeReason, null)
  assert.equal(typeof control.serverName, 'string')
  const props = await control.clients.getSessionProperties(control.id, ['$ClientType', '$Environment', '$Principal'])
  assert.equal(props.$ClientType, 'NODE')
  assert.match(props.$Environment, /^NODE_\d+\.\d+$/)
  assert.equal(props.$Principal, 'control')
  await rejectsWith(usher.connect({ url: server.url, principal: 'control', password: 'wrong' }), 'AUTHENTICATION_FAILED')
  await rejectsWith(usher.connect({}), 'INVALID_ARGUMENT', (e) => e.details.argument === 'url')
  await rejectsWith(usher.connect(null), 'INVALID_ARGUMENT')
  await rejectsWith(usher.connect({ url: server.url, properties: { '$Bad key': 'x' } }), 'INVALID_ARGUMENT')
  await rejectsWith(usher.connect({ url: 'ws://127.0.0.1:1' }), 'CONNECTION')
})

test('close by id: resolves to 1; the closed session sees CLOSED_BY_CONTROLLER', async () => {
  const [, [victim]] = await group(1)
  assert.equal(await control.clients.close(victim.id), 1)
  assert.equal(await victim.closed(), 'CLOSED_BY_CONTROLLER')
  assert.equal(victim.closeReason, 'CLOSED_BY_CONTROLLER')
})

test('close by filter: the number closed; others untouched; closeDetailed', async () => {
  const [filter, doomed] = await group(3)
  const [, [kept]] = await group(1)
  assert.equal(await control.clients.close(filter), 3)
  for (const s of doomed) assert.equal(await s.closed(), 'CLOSED_BY_CONTROLLER')
  assert.equal(kept.closeReason, null)
  const [filter2] = await group(2)
  const r = await control.clients.closeDetailed(filter2)
  assert.equal(r.total, 2)
  assert.deepEqual(Object.values(r.perServer), [2])
  assert.deepEqual([r.unreachable, r.denied, r.rejected, r.changed], [[], 0, 0, null])
  assert.equal(await control.clients.close("t is 'nobody'"), 0)
  await kept.close()
})

test('changeRoles: by id (positional), by filter ({ add, remove }), detailed; the target is told', async () => {
  const [filter, sessions] = await group(2)
  const told = sessions[0].rolesChanged()
  assert.equal(await control.clients.changeRoles(sessions[0].id, [], ['TOPIC_CONTROL']), 1)
  assert.deepEqual(await told, ['CLIENT', 'TOPIC_CONTROL'])
  assert.equal(await control.clients.changeRoles(filter, { add: ['TOPIC_CONTROL'], remove: ['CLIENT'] }), 2)
  assert.equal(await control.clients.count(`${filter} and hasRoles ['TOPIC_CONTROL']`), 2)
  const r = await control.clients.changeRolesDetailed(filter, ['TOPIC_CONTROL'], ['CLIENT'])
  assert.equal(r.total, 2)
  await rejectsWith(control.clients.changeRoles(filter, [], []), 'INVALID_ARGUMENT')
  await rejectsWith(control.clients.changeRoles(filter, ['CLIENT'], ['CLIENT']), 'INVALID_ARGUMENT')
  await rejectsWith(control.clients.changeRoles(filter, { add: ['bad role'] }), 'INVALID_ARGUMENT')
  await rejectsWith(control.clients.changeRoles(sessions[0].id, [], ['ADMINISTRATOR']), 'ACCESS_DENIED', (e) => typeof e.details.permission === 'string')
  await closeAll(sessions)
})

test('getSessionProperties: names, *F, *U; a filter or unknown id is an error', async () => {
  const [, [s]] = await group(1)
  const all = await control.clients.getSessionProperties(s.id, ['*F', '*U'])
  assert.equal(all.$SessionId, s.id)
  assert.equal(all.$Roles, '"CLIENT"')
  assert.match(all.t, /^g\d+$/)
  assert.deepEqual(Object.keys(await control.clients.getSessionProperties(s.id, ['t'])), ['t'])
  await rejectsWith(control.clients.getSessionProperties("t is 'x'", ['*U']), 'INVALID_ARGUMENT')
  const [server] = s.id.split('-')
  await rejectsWith(control.clients.getSessionProperties(`${server}-00000000ffffffff`, ['*U']), 'NO_SUCH_SESSION')
  await rejectsWith(control.clients.getSessionProperties('0000000000000000-0000000000000001', ['*U']), 'NO_SUCH_SESSION')
  await s.close()
})

test('setSessionProperties: by id (null removes, detailed old values), by filter; errors', async () => {
  const [filter, sessions] = await group(2)
  const id = sessions[0].id
  const r = await control.clients.setSessionPropertiesDetailed(id, { team: 'ops', t: null })
  assert.equal(r.total, 1)
  assert.deepEqual(r.changed, { team: null, t: filter.slice(6, -1) })
  assert.deepEqual(await control.clients.getSessionProperties(id, ['*U']), { team: 'ops' })
  assert.equal(await control.clients.setSessionProperties(filter, { team: 'dev' }), 1)
  assert.equal(await control.clients.setSessionProperties(id, { $Country: 'de' }), 1)
  await rejectsWith(control.clients.setSessionProperties(id, { $Principal: 'x' }), 'INVALID_ARGUMENT')
  await rejectsWith(control.clients.setSessionProperties(id, { team: 5 }), 'INVALID_ARGUMENT')
  await rejectsWith(control.clients.setSessionProperties(id, 'team'), 'INVALID_ARGUMENT')
  await rejectsWith(control.clients.setSessionProperties(id, { big: 'x'.repeat(5000) }), 'LIMIT_EXCEEDED')
  await closeAll(sessions)
})

test('setConflated and setThrottled: by id and filter, detailed, bad throttlers', async () => {
  const [filter, sessions] = await group(2)
  assert.equal(await control.clients.setConflated(sessions[0].id, true), 1)
  assert.equal(await control.clients.setConflated(filter, false), 2)
  assert.equal((await control.clients.setConflatedDetailed(filter, true)).total, 2)
  assert.equal(await control.clients.setThrottled(sessions[0].id, { kind: 'messagesPerSecond', limit: 100 }), 1)
  assert.equal(await control.clients.setThrottled(filter, { kind: 'bytesPerSecond', limit: 1 << 20 }), 2)
  assert.equal((await control.clients.setThrottledDetailed(filter, { kind: 'unthrottled' })).total, 2)
  await rejectsWith(control.clients.setConflated(filter, 'yes'), 'INVALID_ARGUMENT')
  for (const bad of [{ kind: 'fast' }, { kind: 'messagesPerSecond' }, { kind: 'bytesPerSecond', limit: -1 }, 'unthrottled', null]) {
    await rejectsWith(control.clients.setThrottled(filter, bad), 'INVALID_ARGUMENT')
  }
  await closeAll(sessions)
})

test('fetchSessions pages in order with a cursor; count and countDetailed', async () => {
  const [filter, sessions] = await group(3)
  const seen = []
  let cursor = null
  do {
    const page = await control.clients.fetchSessions({ filter, properties: ['t'], limit: 2, cursor })
    assert.equal(page.total, 3)
    seen.push(...page.sessions.map((s) => s.id))
    cursor = page.hasMore ? page.nextCursor : null
  } while (cursor)
  assert.deepEqual(seen, sessions.map((s) => s.id))
  assert.ok((await control.clients.fetchSessions()).total >= 4)
  assert.equal(await control.clients.count(filter), 3)
  assert.equal((await control.clients.countDetailed(filter)).total, 3)
  await closeAll(sessions)
})

test('INVALID_FILTER carries the problems with line and column', async () => {
  for (const op of [
    () => control.clients.count("t iz 'x'"),
    () => control.clients.close("t iz 'x'"),
    () => control.clients.fetchSessions({ filter: '$principal is "a"' }),
  ]) {
    await rejectsWith(op(), 'INVALID_FILTER', (e) => {
      assert.ok(e.details.problems.length >= 1)
      const [p] = e.details.problems
      assert.equal(p.line, 1)
      assert.ok(p.column >= 1 && typeof p.message === 'string')
    })
  }
})

test('maxTargets: LIMIT_EXCEEDED with the count, acting on none (option and clients.maxTargets)', async () => {
  const [filter, sessions] = await group(3)
  await rejectsWith(control.clients.close(filter, { maxTargets: 2 }), 'LIMIT_EXCEEDED', (e) => e.details.count === 3)
  await rejectsWith(control.clients.maxTargets(1).setConflated(filter, true), 'LIMIT_EXCEEDED')
  await rejectsWith(control.clients.changeRoles(filter, { add: ['TOPIC_CONTROL'], maxTargets: 1 }), 'LIMIT_EXCEEDED')
  assert.equal(await control.clients.count(filter), 3)
  assert.equal(await control.clients.maxTargets(3).close(filter), 3)
  assert.throws(() => control.clients.maxTargets(-1), (e) => e.code === 'INVALID_ARGUMENT')
  await closeAll(sessions)
})

test('ACCESS_DENIED names the missing permission', async () => {
  const client = await connectAs('client')
  const [filter, sessions] = await group(1)
  await rejectsWith(client.clients.close(sessions[0].id), 'ACCESS_DENIED', (e) => e.details.permission === 'MODIFY_SESSION')
  await rejectsWith(client.clients.count(filter), 'ACCESS_DENIED', (e) => e.details.permission === 'VIEW_SESSION')
  await rejectsWith(client.clients.setQueueEventHandler(() => {}), 'ACCESS_DENIED', (e) => typeof e.details.permission === 'string')
  const admin = await connectAs('admin')
  await rejectsWith(control.clients.close(admin.id), 'ACCESS_DENIED') // dominance
  assert.equal((await control.clients.closeDetailed(`$SessionId is '${admin.id}'`)).denied, 1)
  await closeAll([client, admin, ...sessions])
})

test('HANDLER_CONFLICT for a second queue handler; SESSION_CLOSED after close', async () => {
  const s = await connectAs('control')
  const first = await s.clients.setQueueEventHandler(() => {})
  await rejectsWith(s.clients.setQueueEventHandler(() => {}), 'HANDLER_CONFLICT')
  await first.close()
  assert.equal(first.closed, true)
  const again = await s.clients.setQueueEventHandler(() => {})
  await again.close()
  await s.close()
  await rejectsWith(s.clients.count('all'), 'SESSION_CLOSED')
  await rejectsWith(s.topics.add('x/y', 'v'), 'SESSION_CLOSED')
  await s.close() // twice is fine
})

test('argument errors reject the promise, never throw synchronously', async () => {
  const c = control.clients
  const calls = [
    () => c.close(42), () => c.closeDetailed(undefined), () => c.changeRoles(null, []), () => c.changeRoles('all', 5),
    () => c.getSessionProperties(1, []), () => c.getSessionProperties(control.id, 3),
    () => c.setSessionProperties('all', null), () => c.setConflated('all'), () => c.setThrottled('all', 7),
    () => c.fetchSessions(5), () => c.fetchSessions({ limit: 'x' }), () => c.count(), () => c.countDetailed({}),
    () => c.close('all', { maxTargets: 1.5 }), () => c.addSessionEventListener(5), () => c.addSessionEventListener({}),
    () => c.addSessionEventListener(() => {}, { filter: 3 }), () => c.setQueueEventHandler('x'),
    () => control.topics.add(3), () => control.topics.update('a', 5), () => control.topics.subscribe(null),
  ]
  for (const call of calls) {
    let promise
    assert.doesNotThrow(() => (promise = call()))
    await rejectsWith(promise, 'INVALID_ARGUMENT')
  }
})

test('session listener: snapshot before resolving, live events in order, onClose once', async () => {
  const [filter, [a]] = await group(1)
  const log = []
  let closed = 0
  // close() discards events not yet delivered: wait for this listener's own CLOSED.
  const sawClosed = signal()
  const reg = await control.clients.addSessionEventListener(
    {
      onEvent: (e) => {
        log.push(e)
        if (e.state === 'CLOSED') sawClosed.resolve()
      },
      onClose: () => closed++,
    },
    { filter, properties: ['t', 'x'] },
  )
  assert.deepEqual(log.map((e) => [e.type, e.sessionId, e.state]), [['STATE', a.id, 'ACTIVE']])
  const gone = signal()
  const reg2 = await control.clients.addSessionEventListener((e) => e.state === 'CLOSED' && gone.resolve(e), { filter })
  await control.clients.setSessionProperties(a.id, { x: '1' })
  await control.clients.close(a.id)
  const closedEvent = await gone.promise
  assert.equal(closedEvent.closeReason, 'CLOSED_BY_CONTROLLER')
  await sawClosed.promise
  await reg.close()
  assert.equal(closed, 1)
  assert.deepEqual(log.map((e) => e.type), ['STATE', 'PROPERTIES', 'STATE'])
  assert.deepEqual(log[1].changed, { x: { old: null, new: '1' } })
  assert.equal(log[1].matches, true)
  assert.equal(log[2].state, 'CLOSED')
  await reg.close() // twice is fine
  assert.equal(closed, 1)
  await reg2.close()
})

test('listeners may be async (awaited in order), throw or reject without crashing', async () => {
  const unhandled = []
  const onUnhandled = (e) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  try {
    const [filter, sessions] = await group(4)
    const order = []
    let closed = false
    const reg = await control.clients.addSessionEventListener(
      {
        async onEvent(e) {
          const i = sessions.findIndex((s) => s.id === e.sessionId)
          if (i === 1) throw new Error('listener threw')
          if (i === 2) return Promise.reject(new Error('listener rejected'))
          await new Promise((r) => setImmediate(r))
          order.push(i)
        },
        onClose() {
          closed = true
        },
      },
      { filter },
    )
    assert.deepEqual(order, [0, 3])
    await reg.close()
    assert.equal(closed, true)
    const thrower = await control.clients.addSessionEventListener(() => {
      throw new Error('plain function threw')
    }, { filter })
    await thrower.close()
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(unhandled, [])
    await closeAll(sessions)
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

test('queue handler: a plain function sees POLICY_CHANGED; object methods get (sessionId, policy)', async () => {
  const s = await connectAs('control')
  const [, [target]] = await group(1)
  const changed = signal()
  const h = await s.clients.setQueueEventHandler((e) => {
    if (e.type === 'POLICY_CHANGED' && e.sessionId === target.id) changed.resolve(e)
  })
  await s.clients.setThrottled(target.id, { kind: 'messagesPerSecond', limit: 50 })
  const e = await changed.promise
  assert.deepEqual(e.policy.throttler, { kind: 'messagesPerSecond', limit: 50 })
  assert.equal(typeof e.policy.maxDepth, 'number')
  await h.close()
  const got = signal()
  const h2 = await s.clients.setQueueEventHandler({
    onPolicyChanged(sessionId, policy) {
      if (sessionId === target.id) got.resolve([this, policy.conflated])
    },
  })
  await s.clients.setConflated(target.id, true)
  const [self, conflated] = await got.promise
  assert.equal(conflated, true)
  assert.equal(typeof self.onPolicyChanged, 'function', 'methods are called on their object')
  await s.close()
  assert.equal(h2.closed, true, 'session.close() waits for the listeners to close')
  await target.close()
})

test('topics: add, update, subscribe as an async iterator and with a listener, remove', async () => {
  const base = `test/t${++tag}`
  await control.topics.add(`${base}/a`, 'one')
  const reader = await connectAs('client')
  const sub = await reader.topics.subscribe(`${base}/*`)
  const first = await sub.next()
  assert.equal(first.done, false)
  assert.equal(first.value.path, `${base}/a`)
  assert.ok(Buffer.isBuffer(first.value.value))
  assert.equal(first.value.value.toString(), 'one')
  const heard = []
  const got = signal()
  // A second session: a second local subscription covering the same path does
  // not get the current value again from the core client (see docs/CLIENT.md).
  const listening = await connectAs('client')
  const reg = await listening.topics.subscribe(`${base}/a`, (v) => {
    heard.push(v.value.toString())
    if (v.value.toString() === 'two') got.resolve()
  })
  await control.topics.update(`${base}/a`, Buffer.from('two'))
  // The first subscription may see the current value again (replayed for the second).
  for await (const v of sub) {
    if (v.value.toString() === 'two') break // unsubscribes
    assert.equal(v.value.toString(), 'one')
  }
  assert.deepEqual(await sub.next(), { value: undefined, done: true })
  await got.promise
  assert.deepEqual(heard, ['one', 'two'])
  await reg.close()
  await control.topics.remove(`${base}/a`)
  await rejectsWith(reader.topics.add(`${base}/b`, new Uint8Array([1])), 'ACCESS_DENIED')
  await reader.close()
  await listening.close()
})

test('many concurrent requests on one session', async () => {
  const [filter, sessions] = await group(2)
  const ids = sessions.map((s) => s.id)
  const results = await Promise.all(
    Array.from({ length: 2000 }, (_, i) => control.clients.getSessionProperties(ids[i % 2], ['$SessionId'])),
  )
  results.forEach((r, i) => assert.equal(r.$SessionId, ids[i % 2]))
  const counts = await Promise.all(Array.from({ length: 200 }, () => control.clients.count(filter)))
  assert.ok(counts.every((n) => n === 2))
  await closeAll(sessions)
})

/** Runs a child node script; resolves with its exit code, its stdout lines, and how long it took. */
function child(script, env, onLine = () => {}) {
  const started = Date.now()
  const p = spawn(process.execPath, ['-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = []
  readline.createInterface({ input: p.stdout }).on('line', (l) => {
    lines.push(l)
    onLine(l)
  })
  const killer = setTimeout(() => p.kill('SIGKILL'), 20000)
  return new Promise((resolve) =>
    p.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, lines, ms: Date.now() - started })
    }),
  )
}

const PKG = JSON.stringify(path.resolve(__dirname, '..'))

test('the process exits by itself after session.close() with listeners registered', async () => {
  const script = `
    const usher = require(${PKG})
    ;(async () => {
      const s = await usher.connect({ url: process.env.URL, principal: 'control', password: process.env.PW })
      await s.clients.setQueueEventHandler({ onUpperThresholdCrossed() {}, onLowerThresholdCrossed() {} })
      await s.clients.addSessionEventListener(() => {})
      await s.topics.add('exit/' + process.pid, 'v')
      await s.topics.subscribe('exit/' + process.pid, () => {})
      const sub = await s.topics.subscribe('exit/*')
      await s.close()
      console.log('closed ' + s.closeReason)
    })()`
  const r = await child(script, { URL: server.url, PW: server.passwords.control })
  assert.equal(r.signal, null, 'killed at the deadline: something kept Node alive')
  assert.equal(r.code, 0)
  assert.deepEqual(r.lines, ['closed CLOSED_BY_CLIENT'])
})

test('an open session keeps the process alive until a controller closes it', async () => {
  const script = `
    const usher = require(${PKG})
    usher.connect({ url: process.env.URL, properties: { keep: 'alive' } }).then(async (s) => {
      await s.clients.count('all').catch(() => {})
      console.log(s.id)
      s.closed().then((reason) => console.log(reason))
    })`
  const r = await child(script, { URL: server.url }, (line) => {
    if (/^[0-9a-f]{16}-/.test(line)) setImmediate(() => control.clients.close(line))
  })
  assert.equal(r.signal, null)
  assert.equal(r.code, 0)
  assert.equal(r.lines[1], 'CLOSED_BY_CONTROLLER')
})
