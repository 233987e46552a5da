'use strict'
// The conformance interpreter of the Node runner: one scenario, one real
// server, every request through the Node binding (./backend.js). The step
// kinds and the matching rules are those of tests/conformance/README.md, as
// in the Python and Rust runners.

const { BindingError } = require('./backend')

const DEADLINE_MS = 10000
const PUBLISH_DEADLINE_MS = 60000
const MAP_FIELDS = new Set(['properties', 'changed', 'per_server'])
const OPERATIONS = new Set([
  'close', 'change_roles', 'get_session_properties', 'set_session_properties',
  'set_conflated', 'set_throttled', 'fetch_sessions', 'count',
])

class Failure extends Error {}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

/** `expected` describes `actual`: records on the fields named, maps and lists in full, scalars equal. */
function matches(expected, actual, exact = false) {
  if (isObject(expected)) {
    if (!isObject(actual)) return false
    const keys = Object.keys(expected)
    if (exact && (keys.length !== Object.keys(actual).length || !keys.every((k) => k in actual))) return false
    return keys.every((k) => k in actual && matches(expected[k], actual[k], MAP_FIELDS.has(k)))
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && expected.length === actual.length && expected.every((e, i) => matches(e, actual[i], exact))
  }
  return expected === actual
}

function anyOrder(expected, actual) {
  const left = [...actual]
  for (const e of expected) {
    const hit = left.findIndex((a) => matches(e, a))
    if (hit < 0) return false
    left.splice(hit, 1)
  }
  return left.length === 0
}

/** Events pushed by listeners, awaited by steps (woken, never polled). */
class Sink {
  constructor() {
    this.items = []
    this.consumed = 0
    this.wake = () => {}
  }
  push(item) {
    this.items.push(item)
    this.wake()
  }
  async wait(done, timeoutMs, what) {
    const end = Date.now() + timeoutMs
    while (!done(this.items)) {
      const remaining = end - Date.now()
      if (remaining <= 0) throw new Failure(`${what}: not seen within ${timeoutMs} ms; got ${JSON.stringify(this.items.slice(this.consumed))}`)
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, remaining)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    return this.items
  }
}

const SUBST = /\{(id|url|repeat):([^}:]*)(?::(\d+))?\}/g

class Run {
  constructor(backend, server, scenario) {
    Object.assign(this, { b: backend, server, scenario })
    this.sessions = {}
    this.ids = {}
    this.sinks = {}
    this.registrations = {}
    this.consumers = {}
    this.cursors = {}
    this.frozen = new Set()
  }

  subst(v) {
    if (typeof v === 'string') {
      return v.replace(SUBST, (_, kind, arg, n) => {
        if (kind === 'id') return this.ids[arg]
        return kind === 'url' ? this.server.urls[arg] : arg.repeat(Number(n ?? 1))
      })
    }
    if (Array.isArray(v)) return v.map((x) => this.subst(x))
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.subst(x)]))
    return v
  }

  nameOf(sid) {
    for (const [name, known] of Object.entries(this.ids)) if (known === sid) return name
    return `?${sid}`
  }

  named(item) {
    return 'session' in item ? { ...item, session: this.nameOf(item.session) } : item
  }

  async run() {
    try {
      for (const spec of this.scenario.sessions ?? []) await this.open(this.subst(spec))
      for (const [i, raw] of this.scenario.steps.entries()) {
        try {
          await this.step(this.subst(raw))
        } catch (e) {
          if (e instanceof Failure) throw new Failure(`step ${i + 1} (${raw.do}): ${e.message}`)
          throw e
        }
      }
    } finally {
      // A scenario that failed while a member was frozen: its sessions there could not close.
      for (const server of [...this.frozen]) await quietly(this.command('thaw', 'thawed', server))
      for (const reg of Object.values(this.registrations)) await quietly(this.b.unregister(reg))
      for (const consumer of Object.values(this.consumers)) await quietly(this.b.resume(consumer))
      for (const session of Object.values(this.sessions)) await quietly(this.b.closeSession(session))
    }
  }

  async open(spec) {
    const principal = spec.principal
    const password = 'password' in spec ? spec.password : principal ? this.server.passwords[principal] : null
    const session = await this.b.connect(this.server.url, spec, password)
    this.sessions[spec.name] = session
    this.ids[spec.name] = this.b.sessionId(session)
  }

  target(t) {
    if ('id' in t) return { id: this.ids[t.id] }
    if ('id_text' in t) return { id: t.id_text }
    return { filter: t.filter }
  }

  async step(step) {
    const handler = this[`do_${step.do}`]
    if (handler) return handler.call(this, step)
    if (!OPERATIONS.has(step.do)) throw new Failure(`unknown step ${step.do}`)
    const args = {}
    for (const [k, v] of Object.entries(step)) if (!['do', 'as', 'expect'].includes(k)) args[k] = v
    if (args.target) args.target = this.target(args.target)
    if (args.session) args.session = this.ids[args.session]
    await this.expect(step, () => this.control(step.as, step.do, args), step.do === 'get_session_properties')
  }

  async control(who, op, args) {
    if (op === 'fetch_sessions' && args.cursor === 'next') args = { ...args, cursor: this.cursors[who] ?? null }
    const result = await this.b.control(this.sessions[who], op, args)
    if (op !== 'fetch_sessions') return result
    this.cursors[who] = result.next_cursor
    delete result.next_cursor
    result.sessions = result.sessions.map((s) => this.nameOf(s))
    result.properties = Object.fromEntries(Object.entries(result.properties).map(([s, p]) => [this.nameOf(s), p]))
    return result
  }

  async expect(step, call, exact = false) {
    const want = step.expect ?? {}
    let result
    try {
      result = await call()
    } catch (e) {
      if (!(e instanceof BindingError)) throw e
      if (!('error' in want)) throw new Failure(`unexpected error ${JSON.stringify(e.data)}`)
      if (!matches(want.error, e.data)) throw new Failure(`error ${JSON.stringify(e.data)}, expected ${JSON.stringify(want.error)}`)
      return undefined
    }
    if ('error' in want) throw new Failure(`succeeded with ${JSON.stringify(result)}, expected error ${JSON.stringify(want.error)}`)
    if ('result' in want && !matches(want.result, result, exact)) {
      throw new Failure(`result ${JSON.stringify(result)}, expected ${JSON.stringify(want.result)}`)
    }
    return result
  }

  do_open(step) {
    return this.expect(step, () => this.open(step.session))
  }

  do_close_session(step) {
    return this.expect(step, () => this.b.closeSession(this.sessions[step.session]))
  }

  async do_expect_closed(step) {
    let timer
    const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('(not closed in time)'), DEADLINE_MS)))
    const reason = await Promise.race([this.b.closed(this.sessions[step.session]), timeout])
    clearTimeout(timer)
    if (reason !== step.reason) throw new Failure(`${step.session} closed with ${reason}, expected ${step.reason}`)
  }

  async do_listen(step) {
    const sink = (this.sinks[step.listener] = new Sink())
    const args = {}
    for (const k of ['filter', 'properties', 'after']) if (k in step) args[k] = step[k]
    const reg = await this.expect(step, () => this.b.listen(this.sessions[step.as], args, sink))
    if (reg !== undefined) this.registrations[step.listener] = reg
  }

  async do_set_queue_handler(step) {
    const sink = (this.sinks[step.handler] = new Sink())
    const reg = await this.expect(step, () => this.b.queueHandler(this.sessions[step.as], sink))
    if (reg !== undefined) this.registrations[step.handler] = reg
  }

  async do_unlisten(step) {
    const reg = this.registrations[step.listener]
    delete this.registrations[step.listener]
    await this.b.unregister(reg)
  }

  async do_expect_events(step) {
    const sink = this.sinks[step.listener ?? step.handler]
    const want = step.events
    const start = sink.consumed
    const items = await sink.wait((xs) => xs.length - start >= want.length, DEADLINE_MS, `${want.length} events`)
    const got = items.slice(start, start + want.length).map((e) => this.named(e))
    sink.consumed = start + want.length
    const ok = step.any_order ? anyOrder(want, got) : matches(want, got)
    if (!ok) throw new Failure(`events ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
    if (step.no_more && sink.items.length > sink.consumed) {
      throw new Failure(`unexpected events ${JSON.stringify(sink.items.slice(sink.consumed).map((e) => this.named(e)))}`)
    }
  }

  do_add_topic(step) {
    return this.expect(step, () => this.b.addTopic(this.sessions[step.as], step.topic))
  }

  async do_slow_consumer(step) {
    const spec = { ...step.session, listener_buffer: 1, listener_stall_timeout_ms: 120000 }
    await this.open(spec)
    this.consumers[spec.name] = await this.b.stalledSubscriber(this.sessions[spec.name], step.selector)
  }

  async do_resume(step) {
    const consumer = this.consumers[step.session]
    delete this.consumers[step.session]
    await this.b.resume(consumer)
  }

  async do_publish_until(step) {
    const sink = this.sinks[step.handler]
    const session = this.sessions[step.as]
    const value = Buffer.alloc(step.value_bytes ?? 2048, 'x')
    const end = Date.now() + PUBLISH_DEADLINE_MS
    const seen = () => sink.items.slice(sink.consumed).some((e) => matches(step.event, this.named(e)))
    while (!seen()) {
      if (Date.now() > end) throw new Failure(`no ${JSON.stringify(step.event)} within ${PUBLISH_DEADLINE_MS} ms of publishing`)
      await Promise.all(Array.from({ length: 16 }, () => this.b.update(session, step.topic, value)))
    }
  }

  do_freeze(step) {
    return this.command('freeze', 'frozen', step.server)
  }

  do_thaw(step) {
    return this.command('thaw', 'thawed', step.server)
  }

  /** A command to the scenario's helper (SIGSTOP / SIGCONT a member). */
  async command(verb, done, server) {
    let answer
    try {
      answer = await this.server.command(`${verb} ${server}`)
    } catch (e) {
      throw new Failure(e.message)
    }
    if (answer !== `${done} ${server}`) throw new Failure(`${verb} ${server} answered ${JSON.stringify(answer)}`)
    if (verb === 'freeze') this.frozen.add(server)
    else this.frozen.delete(server)
  }

  async do_filter_cases(step) {
    const failures = []
    for (const c of step.cases) {
      try {
        if ('error' in c) {
          const want = { expect: { error: { kind: 'INVALID_FILTER', problems: c.error } } }
          await this.expect(want, () => this.control(step.as, 'count', { filter: c.filter }))
          continue
        }
        const page = await this.control(step.as, 'fetch_sessions', { filter: c.filter, keys: [], limit: 1000 })
        const count = await this.control(step.as, 'count', { filter: c.filter })
        const got = [...page.sessions].sort()
        const want = [...c.matches].sort()
        if (JSON.stringify(got) !== JSON.stringify(want) || count !== want.length) {
          failures.push(`${JSON.stringify(c.filter)}: matched ${JSON.stringify(got)} (count ${count}), expected ${JSON.stringify(want)}`)
        }
      } catch (e) {
        if (!(e instanceof Failure)) throw e
        failures.push(`${JSON.stringify(c.filter)}: ${e.message}`)
      }
    }
    if (failures.length) throw new Failure(`${failures.length} of ${step.cases.length} filters: ${failures.join('; ')}`)
  }
}

async function quietly(promise) {
  let timer
  try {
    await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, DEADLINE_MS)))])
  } catch {
    // Teardown of a scenario that may have failed.
  } finally {
    clearTimeout(timer)
  }
}

module.exports = { Run, Failure }
