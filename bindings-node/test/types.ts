// Type-checked with `tsc --noEmit` (never run): the shipped index.d.ts gives
// the API the types a TypeScript user expects.
import * as usher from '../index'
import type {
  ErrorCode, FilterResult, QueuePolicy, Registration, Session, SessionEvent, SessionPage, Subscription, TopicValue, UsherError,
} from '../index'

const v: string = usher.version()
const id: string = usher.parseSessionId('8f3a2c41d09e7b15-0000000000000007')
const parts: { server: bigint; value: bigint } = usher.sessionIdParts(id)
const again: string = usher.formatSessionId(parts.server, parts.value)
const isId: boolean = usher.isSessionId(again)
const codes: string[] = usher.errorCodes()

async function handle(): Promise<ErrorCode | null> {
  try {
    const [value, thread]: [string, string] = await usher._echoAfter(v, 1)
    const n: number = await usher._deliver((s: string) => s.length, [value, thread])
    void n
    return null
  } catch (e: unknown) {
    if (usher.isUsherError(e)) {
      const err: UsherError = e
      const permission: string | undefined = err.details.permission
      const partial: FilterResult | undefined = err.details.result
      void [permission, partial]
      return err.code
    }
    throw e
  }
}

async function api(): Promise<void> {
  const session: Session = await usher.connect({ url: 'ws://127.0.0.1:8080', principal: 'control', password: 'pw', properties: { team: 'a' } })
  const sid: string = session.id
  const roles: string[] = session.roles
  const reason: usher.CloseReason | null = session.closeReason
  const c = session.clients
  const closed: number = await c.close(sid)
  const byFilter: number = await c.close("team is 'a'", { maxTargets: 10 })
  const detailed: FilterResult = await c.closeDetailed('all')
  const perServer: Record<string, number> = detailed.perServer
  const r1: number = await c.changeRoles(sid, ['CLIENT'], ['TOPIC_CONTROL'])
  const r2: number = await c.changeRoles('all', { add: ['TOPIC_CONTROL'], remove: [] })
  const props: Record<string, string> = await c.getSessionProperties(sid, ['*F', '*U'])
  const set: number = await c.setSessionProperties(sid, { team: 'b', old: null })
  const conflated: number = await c.setConflated(sid, true)
  const throttled: number = await c.setThrottledDetailed(sid, { kind: 'messagesPerSecond', limit: 100 }).then((r) => r.total)
  const page: SessionPage = await c.fetchSessions({ filter: 'all', properties: ['$Principal'], limit: 10, cursor: null })
  const n: number = await c.maxTargets(5).count('all')
  const reg: Registration = await c.addSessionEventListener(
    { onEvent: (e: SessionEvent) => void (e.type === 'STATE' ? e.state : e.changed), onClose: () => {} },
    { filter: 'all', properties: ['$Roles'] },
  )
  const handler: Registration = await c.setQueueEventHandler({
    async onUpperThresholdCrossed(sessionId: string, policy: QueuePolicy) {
      await c.setConflated(sessionId, !policy.conflated)
    },
    onError: (e: UsherError) => void e.code,
  })
  await c.setQueueEventHandler((e) => void [e.type, e.sessionId, e.policy.maxDepth])
  await session.topics.add('a/b', new Uint8Array([120]))
  await session.topics.update('a/b', 'y')
  const sub = (await session.topics.subscribe('a/*')) as Subscription
  for await (const value of sub) {
    const tv: TopicValue = value
    const bytes: Uint8Array = tv.value
    void bytes
  }
  await reg.close()
  await handler.close()
  const why: usher.CloseReason = await session.closed()
  await session.close()
  void [roles, reason, closed, byFilter, r1, r2, props, set, conflated, throttled, page, n, why]
}

// @ts-expect-error: ids are strings in Node, not numbers
usher.parseSessionId(42)

void [isId, codes, handle, api]
