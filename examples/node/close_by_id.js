'use strict'
// Close one session by its id; the closed client sees CLOSED_BY_CONTROLLER.
const { controller, clientWith, runTag, run } = require('./common')

run(async () => {
  const session = await controller()
  const client = await clientWith('example', `by-id-${runTag}`)

  const numClosed = await session.clients.close(client.id)
  console.log(`closed ${numClosed} session (${client.id})`)
  const reason = await client.closed()
  console.log(`${client.id} saw ${reason}`)
  if (numClosed !== 1 || reason !== 'CLOSED_BY_CONTROLLER') throw new Error('unexpected outcome')
  await session.close()
})
