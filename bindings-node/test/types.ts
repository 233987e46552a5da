// Type-checked with `tsc --noEmit` (never run): the shipped index.d.ts gives
// the API the types a TypeScript user expects.
import * as usher from '../index'
import type { ErrorCode, UsherError } from '../index'

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
      void permission
      return err.code
    }
    throw e
  }
}

// @ts-expect-error: ids are strings in Node, not numbers
usher.parseSessionId(42)

void [isId, codes, handle]
