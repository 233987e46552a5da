'use strict'
// Close every session a filter selects, leaving the others alone.
const { controller, clientWith, runTag, run } = require('./common')

run(async () => {
  const session = await controller()
  const doomed = []
  for (let i = 0; i < 3; i++) doomed.push(await clientWith('example', `doomed-${runTag}`))
  const survivor = await clientWith('example', `kept-${runTag}`)

  const filter = `example is 'doomed-${runTag}'`
  const numClosed = await session.clients.close(filter)
  console.log(`${filter}: closed ${numClosed} sessions`)
  for (const client of doomed) console.log(`${client.id} saw ${await client.closed()}`)
  console.log(`${survivor.id} is still open: ${survivor.closeReason === null}`)
  if (numClosed !== 3 || survivor.closeReason !== null) throw new Error('unexpected outcome')
  await survivor.close()
  await session.close()
})
