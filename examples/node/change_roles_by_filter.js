'use strict'
// Add a role to every session a filter selects (the { add, remove } form).
const { controller, clientWith, runTag, run } = require('./common')

run(async () => {
  const session = await controller()
  const clients = []
  for (let i = 0; i < 3; i++) clients.push(await clientWith('example', `roles-by-filter-${runTag}`))

  const filter = `example is 'roles-by-filter-${runTag}'`
  const changed = clients.map((c) => c.rolesChanged())
  const n = await session.clients.changeRoles(filter, { add: ['TOPIC_CONTROL'] })
  console.log(`${filter}: changed roles of ${n} sessions`)
  for (const [i, roles] of (await Promise.all(changed)).entries()) console.log(`${clients[i].id} now has ${roles}`)
  const stillClient = await session.clients.count(`${filter} and hasRoles ['TOPIC_CONTROL']`)
  if (n !== 3 || stillClient !== 3) throw new Error('unexpected outcome')
  for (const c of clients) await c.close()
  await session.close()
})
