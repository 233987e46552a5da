'use strict'
// The conformance backend of the Node binding (usher-client): every call is
// the package's public API; results are normalised to the plain data of
// tests/conformance/README.md.

const usher = require('../../../../bindings-node')

const THROTTLER_KIND = { unthrottled: 'UNTHROTTLED', messagesPerSecond: 'MESSAGES_PER_SECOND', bytesPerSecond: 'BYTES_PER_SECOND' }
const THROTTLER_JS = { UNTHROTTLED: 'unthrottled', MESSAGES_PER_SECOND: 'messagesPerSecond', BYTES_PER_SECOND: 'bytesPerSecond' }

/** A binding error as plain data: `kind` plus the details. */
class BindingError extends Error {
  constructor(data) {
    super(data.kind)
    this.data = data
  }
}

function filterResult(r) {
  return {
    total: r.total,
    per_server: r.perServer,
    denied: r.denied,
    rejected: r.rejected,
    changed: r.changed,
    unreachable: r.unreachable,
  }
}

function policy(p) {
  const rate = p.throttler.kind === 'unthrottled' ? null : p.throttler.limit
  return {
    conflated: p.conflated,
    throttler: { kind: THROTTLER_KIND[p.throttler.kind], rate },
    max_depth: p.maxDepth,
    max_bytes: p.maxBytes,
    upper_threshold: p.upperThreshold,
    lower_threshold: p.lowerThreshold,
  }
}

function sessionEvent(e) {
  if (e.type === 'STATE') {
    return { type: 'STATE', session: e.sessionId, state: e.state, reason: e.closeReason, properties: e.properties }
  }
  const changed = {}
  for (const [k, v] of Object.entries(e.changed)) changed[k] = [v.old, v.new]
  return { type: 'PROPERTIES', session: e.sessionId, changed, matches: e.matches }
}

function errorData(e) {
  if (!usher.isUsherError(e)) return { kind: String(e) }
  const data = { kind: e.code }
  for (const [k, v] of Object.entries(e.details || {})) data[k] = k === 'result' && v ? filterResult(v) : v
  return data
}

/** Runs `call`, turning an UsherError into a BindingError. */
async function mapped(call) {
  try {
    return await call()
  } catch (e) {
    if (!usher.isUsherError(e)) throw e
    throw new BindingError(errorData(e))
  }
}

/** `onError` and `onClose` of both listener kinds, recorded as events. */
const ending = (sink) => ({
  onError: (e) => sink.push({ type: 'ERROR', error: errorData(e) }),
  onClose: () => sink.push({ type: 'END' }),
})

async function control(session, op, a) {
  const cc = session.clients
  const opts = a.max_targets !== undefined ? { maxTargets: a.max_targets } : undefined
  const t = a.target || {}
  const target = t.id !== undefined ? t.id : t.filter
  const plain = (r) => (a.detailed ? filterResult(r) : r)
  switch (op) {
    case 'close':
      return plain(await (a.detailed ? cc.closeDetailed(target, opts) : cc.close(target, opts)))
    case 'change_roles': {
      const call = a.detailed ? cc.changeRolesDetailed : cc.changeRoles
      return plain(await call.call(cc, target, a.remove || [], a.add || [], opts))
    }
    case 'set_session_properties': {
      const call = a.detailed ? cc.setSessionPropertiesDetailed : cc.setSessionProperties
      return plain(await call.call(cc, target, a.properties, opts))
    }
    case 'set_conflated': {
      const call = a.detailed ? cc.setConflatedDetailed : cc.setConflated
      return plain(await call.call(cc, target, a.conflated, opts))
    }
    case 'set_throttled': {
      const th = a.throttler
      const js = th.kind === 'UNTHROTTLED' ? { kind: 'unthrottled' } : { kind: THROTTLER_JS[th.kind], limit: th.rate }
      const call = a.detailed ? cc.setThrottledDetailed : cc.setThrottled
      return plain(await call.call(cc, target, js, opts))
    }
    case 'get_session_properties':
      return cc.getSessionProperties(a.session, a.keys)
    case 'count':
      return plain(await (a.detailed ? cc.countDetailed(a.filter) : cc.count(a.filter)))
    case 'fetch_sessions': {
      const request = { filter: a.filter ?? 'all', properties: a.keys ?? [], cursor: a.cursor ?? null }
      if (a.limit !== undefined) request.limit = a.limit
      const page = await cc.fetchSessions(request)
      const properties = {}
      for (const s of page.sessions) properties[s.id] = s.properties
      return {
        sessions: page.sessions.map((s) => s.id),
        properties,
        total: page.total,
        has_more: page.hasMore,
        next_cursor: page.nextCursor,
      }
    }
    default:
      throw new Error(`unknown operation ${op}`)
  }
}

const backend = {
  async connect(url, spec, password) {
    const options = { url: spec.url ?? url, principal: spec.principal ?? null, password, properties: spec.properties ?? {} }
    if (spec.request_timeout_ms !== undefined) options.requestTimeout = spec.request_timeout_ms
    if (spec.listener_buffer !== undefined) options.listenerBuffer = spec.listener_buffer
    if (spec.listener_stall_timeout_ms !== undefined) options.listenerStallTimeout = spec.listener_stall_timeout_ms
    return mapped(() => usher.connect(options))
  },
  sessionId: (session) => session.id,
  closeSession: (session) => mapped(() => session.close()),
  closed: (session) => session.closed(),
  control: (session, op, args) => mapped(() => control(session, op, args)),
  listen(session, args, sink) {
    const params = {}
    for (const k of ['filter', 'properties', 'after']) if (args[k] !== undefined) params[k] = args[k]
    const listener = { ...ending(sink), onEvent: (e) => sink.push(sessionEvent(e)) }
    return mapped(() => session.clients.addSessionEventListener(listener, params))
  },
  queueHandler(session, sink) {
    const push = (type) => (sessionId, p) => sink.push({ type, session: sessionId, policy: policy(p) })
    const handler = {
      ...ending(sink),
      onUpperThresholdCrossed: push('UPPER_THRESHOLD_CROSSED'),
      onLowerThresholdCrossed: push('LOWER_THRESHOLD_CROSSED'),
      onPolicyChanged: push('POLICY_CHANGED'),
    }
    return mapped(() => session.clients.setQueueEventHandler(handler))
  },
  unregister: (registration) => registration.close(),
  addTopic: (session, path) => mapped(() => session.topics.add(path, '')),
  update: (session, path, value) => mapped(() => session.topics.update(path, value)),
  // Subscribed, never iterated: its 1-value buffer fills, the socket reader
  // waits for room, the server's queue for this session grows.
  async stalledSubscriber(session, selector) {
    return { subscription: await session.topics.subscribe(selector), reader: null }
  },
  async resume(consumer) {
    consumer.reader = (async () => {
      for await (const _value of consumer.subscription);
    })()
  },
}

module.exports = { backend, BindingError }
