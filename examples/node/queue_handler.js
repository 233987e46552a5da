'use strict'
// A queue event handler that turns conflation on when a session's outbound
// queue reaches its upper threshold and off again at the lower one, shown
// with a real slow subscriber: the controller publishes to a few topics
// faster than the subscriber reads, the subscriber's queue on the server
// grows, the handler conflates it, the queue drains, the handler turns
// conflation off. The controller needs CLIENT_CONTROL and TOPIC_CONTROL.
const { controller, url, usher, runTag, run } = require('./common')

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

run(async () => {
  const session = await controller()
  const clients = session.clients
  const seen = []
  let wake = () => {}
  const note = (what) => {
    seen.push(what)
    wake()
  }
  const handler = await clients.setQueueEventHandler({
    async onUpperThresholdCrossed(sessionId, policy) {
      console.log(`${sessionId}: upper threshold (${policy.upperThreshold}% of ${policy.maxDepth}) crossed: conflation on`)
      note({ upper: sessionId })
      await clients.setConflated(sessionId, true)
    },
    async onLowerThresholdCrossed(sessionId, policy) {
      console.log(`${sessionId}: lower threshold (${policy.lowerThreshold}%) crossed: conflation off`)
      note({ lower: sessionId })
      await clients.setConflated(sessionId, false)
    },
    onPolicyChanged(sessionId, policy) {
      console.log(`${sessionId}: policy now conflated=${policy.conflated}`)
      note({ policy: sessionId, conflated: policy.conflated })
    },
    onError(error) {
      console.error(`queue handler failed: ${error.code} ${error.message}`)
    },
  })

  const base = `examples/queue-${runTag}`
  const topics = [0, 1, 2, 3].map((i) => `${base}/t${i}`)
  for (const t of topics) await session.topics.add(t, '')

  // The slow subscriber: a small client-side buffer, and one value read every 5 ms.
  const subscriber = await usher.connect({ url, listenerBuffer: 8, listenerStallTimeout: 60000 })
  const values = await subscriber.topics.subscribe(`${base}/*`)
  const reader = (async () => {
    for await (const _value of values) await sleep(5)
  })()
  console.log(`slow subscriber ${subscriber.id}`)

  const target = subscriber.id
  const has = (pred) => seen.some(pred)
  const done = () =>
    has((e) => e.upper === target) &&
    has((e) => e.policy === target && e.conflated) &&
    has((e) => e.lower === target) &&
    seen.findIndex((e) => e.lower === target) < seen.findLastIndex((e) => e.policy === target && !e.conflated)

  // Publish, 32 updates in flight at a time, until the subscriber's queue has crossed the upper threshold.
  const value = Buffer.alloc(1024, 'x')
  let sent = 0
  const deadline = Date.now() + 60000
  while (!has((e) => e.upper === target) && Date.now() < deadline && sent < 200000) {
    await Promise.all(Array.from({ length: 32 }, (_, i) => session.topics.update(topics[(sent + i) % topics.length], value)))
    sent += 32
  }
  console.log(`published ${sent} updates`)
  // Then wait (no polling: woken by the handler) for conflation on, lower, conflation off.
  while (!done() && Date.now() < deadline) {
    let timer
    await new Promise((r) => {
      wake = r
      timer = setTimeout(r, deadline - Date.now())
    })
    clearTimeout(timer)
  }
  if (!done()) throw new Error('did not see upper, conflation on, lower, conflation off in time')
  console.log('done: conflation followed the queue up and down')

  await handler.close()
  await values.close()
  await reader
  for (const t of topics) await session.topics.remove(t)
  await subscriber.close()
  await session.close()
})
