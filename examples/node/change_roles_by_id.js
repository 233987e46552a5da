'use strict'
// Add a role to one session by id; it is told its new roles.
const { controller, clientWith, runTag, run } = require('./common')

run(async () => {
  const session = await controller()
  const client = await clientWith('example', `roles-by-id-${runTag}`)
  console.log(`${client.id} starts with ${client.roles}`)

  const changed = client.rolesChanged()
  const n = await session.clients.changeRoles(client.id, [], ['TOPIC_CONTROL'])
  console.log(`changed roles of ${n} session; it now has ${await changed}`)
  if (!client.roles.includes('TOPIC_CONTROL')) throw new Error('unexpected outcome')
  await client.close()
  await session.close()
})
