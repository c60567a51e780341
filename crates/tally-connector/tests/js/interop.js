// Drives tally-connector's BTP 2.0 WebSocket shell with the JavaScript
// reference stack. Usage: node interop.js PORT
//
// Two ilp-plugin-btp clients connect to our connector on loopback: "bob"
// registers a data handler that fulfills Prepares (with the preimage it
// shares with the sender), "alice" sends ILPv4 Prepares built with
// ilp-packet. Our connector must forward alice's first Prepare to bob and
// bring bob's Fulfill back; the second is more than the connector holds
// with bob and must come back as an ILPv4 Reject T04 triggered by
// test.hub. Prints one JSON line per exchange and exits 0 when every check
// holds.
'use strict'

const crypto = require('crypto')
const BtpPlugin = require('ilp-plugin-btp')
const IlpPacket = require('ilp-packet')

const port = Number(process.argv[2])
if (!port) {
  console.error('usage: node interop.js PORT')
  process.exit(2)
}

const server = (user, token) => `btp+ws://${user}:${token}@127.0.0.1:${port}`
const sha256 = (data) => crypto.createHash('sha256').update(data).digest()
const fulfillment = crypto.randomBytes(32)
const condition = sha256(fulfillment)
const failures = []
const check = (ok, what) => { if (!ok) failures.push(what) }
const report = (record) => console.log(JSON.stringify(record))

async function main () {
  const bob = new BtpPlugin({ server: server('bob', 'bob-token'), responseTimeout: 5000 })
  const alice = new BtpPlugin({ server: server('alice', 'alice-token'), responseTimeout: 5000 })

  const bobSaw = []
  bob.registerDataHandler(async (data) => {
    const prepare = IlpPacket.deserializeIlpPrepare(data)
    bobSaw.push(prepare)
    report({ at: 'bob', received: 'prepare', amount: prepare.amount, destination: prepare.destination,
      data: prepare.data.toString(), expiresAt: prepare.expiresAt.toISOString() })
    if (!prepare.executionCondition.equals(condition)) {
      return IlpPacket.serializeIlpReject({ code: 'F05', triggeredBy: 'test.bob', message: 'unknown condition', data: Buffer.alloc(0) })
    }
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.from('thanks') })
  })

  await bob.connect()
  await alice.connect()
  report({ at: 'alice', connected: true })

  const expiresAt = new Date(Date.now() + 20000)
  const first = IlpPacket.serializeIlpPrepare({
    amount: '100',
    executionCondition: condition,
    expiresAt,
    destination: 'test.bob.carl',
    data: Buffer.from('hello from alice')
  })
  const firstReply = IlpPacket.deserializeIlpPacket(await alice.sendData(first))
  report({ at: 'alice', sent: 'prepare', amount: '100', got: firstReply.typeString,
    fulfillment: firstReply.data.fulfillment ? firstReply.data.fulfillment.toString('hex') : null })
  check(firstReply.type === IlpPacket.Type.TYPE_ILP_FULFILL, 'first payment fulfilled')
  check(firstReply.data.fulfillment && firstReply.data.fulfillment.equals(fulfillment), 'fulfillment is bob\'s preimage')
  check(bobSaw.length === 1 && bobSaw[0].amount === '100', 'bob saw the forwarded prepare')
  check(bobSaw.length === 1 && bobSaw[0].expiresAt < expiresAt, 'the forwarded prepare expires earlier')
  check(bobSaw.length === 1 && bobSaw[0].data.toString() === 'hello from alice', 'data passed through')

  const second = IlpPacket.serializeIlpPrepare({
    amount: '5000',
    executionCondition: condition,
    expiresAt: new Date(Date.now() + 20000),
    destination: 'test.bob.carl',
    data: Buffer.alloc(0)
  })
  const secondReply = IlpPacket.deserializeIlpPacket(await alice.sendData(second))
  report({ at: 'alice', sent: 'prepare', amount: '5000', got: secondReply.typeString,
    code: secondReply.data.code || null, triggeredBy: secondReply.data.triggeredBy || null,
    message: secondReply.data.message || null })
  check(secondReply.type === IlpPacket.Type.TYPE_ILP_REJECT, 'second payment rejected')
  check(secondReply.data.code === 'T04', 'reject code T04')
  check(secondReply.data.triggeredBy === 'test.hub', 'triggeredBy is the connector')
  check(bobSaw.length === 1, 'bob never saw the second prepare')

  await alice.disconnect()
  await bob.disconnect()
  report({ failures })
  process.exit(failures.length === 0 ? 0 : 1)
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error))
  process.exit(1)
})
