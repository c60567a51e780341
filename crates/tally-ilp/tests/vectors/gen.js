#!/usr/bin/env node
// Generates tally-ilp's test vectors with the JavaScript reference packages.
//
// Each package is installed into its own scratch directory (never committed):
//
//   for p in ilp-packet@3 ilp-packet@2.2.0 ilp-packet@1.7 btp-packet@1.2.1 btp-packet@2 oer-utils; do
//     d=/tmp/tally-npm/$(echo "$p" | tr '@.' '__'); mkdir -p "$d"; npm install --prefix "$d" "$p"
//   done
//   TALLY_NPM=/tmp/tally-npm node crates/tally-ilp/tests/vectors/gen.js > crates/tally-ilp/tests/vectors/vectors.json
//
// (TALLY_NPM defaults to /tmp/tally-npm.) The output is deterministic.
//
// Output: { packages, valid: [...], malformed: [...], js_lenient: [...] }.
//  - valid: bytes the reference serializer wrote; `json` is the reference
//    decoder's result in the `ilp-codec` example's JSON shape (bytes as
//    lowercase hex, u64 as decimal strings, times as ISO-8601). Every valid
//    vector is checked to decode and re-serialize to the same bytes in JS.
//  - malformed: bytes the reference decoder rejects (`js_error` is its message).
//  - js_lenient: bytes the reference decoder accepts although they are not
//    a canonical encoding; `json` is what JS decoded (null if JS produced
//    something our JSON shape cannot express, e.g. an Invalid Date).
'use strict'

const path = require('path')
const root = process.env.TALLY_NPM || '/tmp/tally-npm'
const load = (dir, name) => require(path.join(root, dir, 'node_modules', name))
const version = (dir, name) => load(dir, name + '/package.json').version

const ilp3 = load('ilp-packet_3', 'ilp-packet')
const ilp22 = load('ilp-packet_2_2_0', 'ilp-packet')
const ilp17 = load('ilp-packet_1_7', 'ilp-packet')
const btp1 = load('btp-packet_1_2_1', 'btp-packet')
const btp2 = load('btp-packet_2', 'btp-packet')
const oer = load('oer-utils', 'oer-utils')

const U64_MAX = '18446744073709551615'
const hex = (b) => Buffer.from(b).toString('hex')
const bytes = (n, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))
const iso = (d) => (d instanceof Date && !isNaN(d.valueOf()) ? d.toISOString() : null)
const T = new Date('2017-09-14T12:34:56.789Z')
const condition = Buffer.from('66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925', 'hex')
const fulfillment = Buffer.alloc(32)

const valid = []
const malformed = []
const jsLenient = []

// ---------------------------------------------------------------- shapes

const pd = (list) => list.map((p) => ({ protocolName: p.protocolName, contentType: p.contentType, data: hex(p.data) }))

function ilp4Json (packet) {
  const d = packet.data
  switch (packet.type) {
    case 12: return { type: 'prepare', amount: d.amount, expiresAt: iso(d.expiresAt), executionCondition: hex(d.executionCondition), destination: d.destination, data: hex(d.data) }
    case 13: return { type: 'fulfill', fulfillment: hex(d.fulfillment), data: hex(d.data) }
    case 14: return { type: 'reject', code: d.code, triggeredBy: d.triggeredBy, message: d.message, data: hex(d.data) }
  }
  throw new Error('unexpected ilp4 type ' + packet.type)
}

function legacyJson (packet) {
  const d = packet.data
  const base = { type: packet.typeString }
  switch (packet.type) {
    case 1: return { ...base, amount: d.amount, account: d.account, data: hex(d.data) }
    case 2: return { ...base, destinationAccount: d.destinationAccount, destinationHoldDuration: d.destinationHoldDuration }
    case 3: return { ...base, liquidityCurve: hex(d.liquidityCurve), appliesToPrefix: d.appliesToPrefix, sourceHoldDuration: d.sourceHoldDuration, expiresAt: iso(d.expiresAt) }
    case 4: return { ...base, destinationAccount: d.destinationAccount, sourceAmount: d.sourceAmount, destinationHoldDuration: d.destinationHoldDuration }
    case 5: return { ...base, destinationAmount: d.destinationAmount, sourceHoldDuration: d.sourceHoldDuration }
    case 6: return { ...base, destinationAccount: d.destinationAccount, destinationAmount: d.destinationAmount, destinationHoldDuration: d.destinationHoldDuration }
    case 7: return { ...base, sourceAmount: d.sourceAmount, sourceHoldDuration: d.sourceHoldDuration }
    case 8: return { ...base, code: d.code, name: d.name, triggeredBy: d.triggeredBy, forwardedBy: d.forwardedBy, triggeredAt: iso(d.triggeredAt), data: hex(Buffer.from(d.data, 'ascii')) }
    case 9: return { ...base, data: hex(d.data) }
    case 10: return { ...base, account: d.account, data: hex(d.data) }
    case 11: return { ...base, code: d.code, triggeredBy: d.triggeredBy, message: d.message, data: hex(d.data) }
  }
  throw new Error('unexpected legacy type ' + packet.type)
}

const CLP_NAMES = ['ack', 'response', 'error', 'prepare', 'fulfill', 'reject', 'message']
function clpJson (p) {
  const name = CLP_NAMES[p.type]
  const base = { type: name, requestId: p.requestId }
  const d = p.data
  switch (name) {
    case 'ack': case 'response': case 'message': return { ...base, protocolData: pd(d) }
    case 'error': return { ...base, rejectionReason: hex(d.rejectionReason), protocolData: pd(d.protocolData) }
    case 'prepare': return { ...base, transferId: d.transferId, amount: d.amount, executionCondition: hex(Buffer.from(d.executionCondition, 'base64')), expiresAt: iso(d.expiresAt), protocolData: pd(d.protocolData) }
    case 'fulfill': return { ...base, transferId: d.transferId, fulfillment: hex(Buffer.from(d.fulfillment, 'base64')), protocolData: pd(d.protocolData) }
    case 'reject': return { ...base, transferId: d.transferId, rejectionReason: hex(d.rejectionReason), protocolData: pd(d.protocolData) }
  }
}

function btp2Json (p) {
  const d = p.data
  const base = { requestId: p.requestId }
  switch (p.type) {
    case 1: return { type: 'response', ...base, protocolData: pd(d.protocolData) }
    case 2: return { type: 'error', ...base, code: d.code, name: d.name, triggeredAt: iso(d.triggeredAt), data: hex(Buffer.from(d.data, 'utf8')), protocolData: pd(d.protocolData) }
    case 6: return { type: 'message', ...base, protocolData: pd(d.protocolData) }
    case 7: return { type: 'transfer', ...base, amount: String(d.amount), protocolData: pd(d.protocolData) }
  }
  throw new Error('unexpected btp2 type ' + p.type)
}

// ---------------------------------------------------------------- families

const families = {
  ilp4: {
    decode: (buf) => ilp4Json(ilp3.deserializeIlpPacket(buf)),
    roundTrip: (buf) => ilp3.serializeIlpPacket(ilp3.deserializeIlpPacket(buf))
  },
  legacy: {
    decode: (buf) => legacyJson(ilp22.deserializeIlpPacket(buf)),
    roundTrip: (buf) => ilp22.serializeIlpPacket(ilp22.deserializeIlpPacket(buf))
  },
  clp: {
    decode: (buf) => clpJson(btp1.deserialize(buf, btp1.BTP_VERSION_ALPHA)),
    roundTrip: (buf) => btp1.serialize(btp1.deserialize(buf, btp1.BTP_VERSION_ALPHA), btp1.BTP_VERSION_ALPHA)
  },
  btp2: {
    decode: (buf) => btp2Json(btp2.deserialize(buf)),
    roundTrip: (buf) => btp2.serialize(btp2.deserialize(buf))
  }
}

// A valid vector: serialized by JS, decoded by JS, re-serialized identically.
// `expectJson` overrides the JS decode where the JS decoder is known to be
// wrong (the CLP rejectionReason bug for contents over 127 bytes).
function addValid (family, name, buf, expectJson) {
  const f = families[family]
  const json = expectJson || f.decode(buf)
  if (!expectJson && !f.roundTrip(buf).equals(buf)) throw new Error(`${name}: JS does not round-trip`)
  const entry = { family, name, hex: hex(buf), json }
  if (expectJson) entry.js_decoder_bug = true
  if (family === 'legacy') entry.ilp_packet_1_7 = crossCheck17(buf)
  valid.push(entry)
}

// ilp-packet 1.7 (what ilp-node resolved) must read and re-write the same
// bytes; it cannot read var-uints of 7 or 8 bytes, which is recorded.
function crossCheck17 (buf) {
  try {
    return ilp17.serializeIlpPacket(ilp17.deserializeIlpPacket(buf)).equals(buf) ? 'identical' : 'different'
  } catch (e) {
    return 'throws: ' + e.message
  }
}

function addMalformed (family, name, buf) {
  let error = null
  try {
    families[family].decode(buf)
  } catch (e) {
    error = e.message
  }
  if (error === null) throw new Error(`${name}: JS accepts a "malformed" vector`)
  malformed.push({ family, name, hex: hex(buf), js_error: error })
}

function addLenient (family, name, buf, note) {
  const json = families[family].decode(buf)
  const representable = JSON.stringify(json).indexOf('null') < 0
  jsLenient.push({ family, name, hex: hex(buf), json: representable ? json : null, note })
}

// ---------------------------------------------------------------- ILPv4

const prepare = (over = {}) => ({ amount: '107', expiresAt: T, executionCondition: condition, destination: 'example.alice', data: bytes(100), ...over })
const v4 = (name, type, data) => addValid('ilp4', name, ilp3.serializeIlpPacket({ type, data }))

v4('prepare_typical_100_byte_data', 12, prepare())
v4('prepare_amount_0', 12, prepare({ amount: '0', data: Buffer.alloc(0) }))
v4('prepare_amount_2_32', 12, prepare({ amount: '4294967296' }))
v4('prepare_amount_2_53_plus_1', 12, prepare({ amount: '9007199254740993' }))
v4('prepare_amount_u64_max', 12, prepare({ amount: U64_MAX }))
v4('prepare_data_127', 12, prepare({ data: bytes(127) }))
v4('prepare_data_128_long_form', 12, prepare({ data: bytes(128) }))
v4('prepare_data_256', 12, prepare({ data: bytes(256) }))
v4('prepare_data_32767_max', 12, prepare({ data: bytes(32767) }))
v4('prepare_destination_1023', 12, prepare({ destination: 'g.' + 'a'.repeat(1021) }))
for (const scheme of ['g', 'private', 'example', 'peer', 'self', 'test', 'test1', 'test2', 'test3', 'local']) {
  v4('prepare_scheme_' + scheme, 12, prepare({ destination: scheme + '.x_y~z-0.Q' }))
}
v4('prepare_leap_day_2000', 12, prepare({ expiresAt: new Date('2000-02-29T23:59:59.999Z') }))
v4('prepare_epoch_plus_1ms', 12, prepare({ expiresAt: new Date(1) }))
{
  // ilp-packet 3 treats a date whose value is 0 as invalid (`!date.valueOf()`),
  // so it cannot read back the epoch it writes. The packet is valid.
  const data = prepare({ expiresAt: new Date(0), data: Buffer.alloc(0) })
  addValid('ilp4', 'prepare_epoch_js_misreads', ilp3.serializeIlpPacket({ type: 12, data }), {
    type: 'prepare', amount: '107', expiresAt: '1970-01-01T00:00:00.000Z', executionCondition: hex(condition), destination: 'example.alice', data: ''
  })
}
v4('prepare_year_9999', 12, prepare({ expiresAt: new Date('9999-12-31T23:59:59.999Z') }))
v4('fulfill_empty_data', 13, { fulfillment, data: Buffer.alloc(0) })
v4('fulfill_data_200', 13, { fulfillment: bytes(32, 7), data: bytes(200) })
v4('fulfill_data_32767', 13, { fulfillment: bytes(32, 9), data: bytes(32767) })
v4('reject_f02_empty_triggered_by', 14, { code: 'F02', triggeredBy: '', message: '', data: Buffer.alloc(0) })
v4('reject_t04_unicode_message', 14, { code: 'T04', triggeredBy: 'g.connector', message: 'h\u00e9llo \u2713 liquidity', data: bytes(10) })
v4('reject_l01_nonstandard_code', 14, { code: 'L01', triggeredBy: 'test.crypto.xrp.bob', message: 'ledger error', data: Buffer.alloc(0) })
v4('reject_f08_amount_too_large', 14, { code: 'F08', triggeredBy: 'g.a', message: 'too much', data: Buffer.from('00000000000000640000000000000032', 'hex') })
v4('reject_long_message_300', 14, { code: 'F99', triggeredBy: 'private.app', message: 'x'.repeat(300), data: bytes(32767) })

const prepareBuf = ilp3.serializeIlpPacket({ type: 12, data: prepare({ data: bytes(4) }) })
// prepare content starts at byte 2 (short length prefix)
addMalformed('ilp4', 'empty_input', Buffer.alloc(0))
addMalformed('ilp4', 'type_only', Buffer.from([12]))
const envelope = (type, content) => { const e = new oer.Writer(); e.writeUInt8(type); e.writeVarOctetString(content); return e.getBuffer() }
addMalformed('ilp4', 'prepare_envelope_truncated', prepareBuf.slice(0, prepareBuf.length - 1))
// Content cut short inside each field, with a length prefix that matches the cut.
for (const cut of [0, 7, 8, 20, 25, 40, 57, 58, 59, 60, 70, prepareBuf.length - 3]) {
  addMalformed('ilp4', 'prepare_content_truncated_at_' + cut, envelope(12, prepareBuf.slice(2, 2 + cut)))
}
addMalformed('ilp4', 'unknown_type_99', Buffer.concat([Buffer.from([99]), prepareBuf.slice(1)]))
addMalformed('ilp4', 'legacy_type_1_in_ilp4', Buffer.concat([Buffer.from([1]), prepareBuf.slice(1)]))
addMalformed('ilp4', 'length_prefix_0x80', Buffer.from([12, 0x80]))
addMalformed('ilp4', 'length_prefix_non_canonical_81_05', Buffer.concat([Buffer.from([13, 0x81, 0x05]), Buffer.alloc(5)]))
addMalformed('ilp4', 'length_prefix_non_canonical_82_00_c5', Buffer.concat([Buffer.from([13, 0x82, 0x00, 0xc5]), Buffer.alloc(0xc5)]))
addMalformed('ilp4', 'length_prefix_too_many_bytes', Buffer.from([13, 0x87, 1, 2, 3, 4, 5, 6, 7]))
addMalformed('ilp4', 'length_exceeds_input', Buffer.from([13, 0x82, 0x7f, 0xff, 0, 0]))
{
  const badAddr = (addr) => {
    const w = new oer.Writer()
    w.writeUInt64(107)
    w.write(Buffer.from('20170914123456789', 'ascii'))
    w.write(condition)
    w.writeVarOctetString(Buffer.from(addr, 'ascii'))
    w.writeVarOctetString(Buffer.alloc(0))
    const content = w.getBuffer()
    const e = new oer.Writer(); e.writeUInt8(12); e.writeVarOctetString(content); return e.getBuffer()
  }
  addMalformed('ilp4', 'prepare_address_unknown_scheme', badAddr('xyz.alice'))
  addMalformed('ilp4', 'prepare_address_no_segment', badAddr('g'))
  addMalformed('ilp4', 'prepare_address_empty_segment', badAddr('g..a'))
  addMalformed('ilp4', 'prepare_address_bad_character', badAddr('g.al ice'))
  addMalformed('ilp4', 'prepare_address_empty', badAddr(''))
  addMalformed('ilp4', 'prepare_address_1024', badAddr('g.' + 'a'.repeat(1022)))
  const badTime = (digits) => {
    const b = Buffer.from(badAddr('g.a')); b.write(digits, 2 + 8, 'ascii'); return b
  }
  addMalformed('ilp4', 'prepare_time_not_digits', badTime('2017091412345678a'))
  addLenient('ilp4', 'prepare_time_spaces', badTime('                 '), 'JS reads each blank field as +"  " = 0 and Date.UTC maps year 0 to 1900')
  const rejectBadTrigger = (() => {
    const w = new oer.Writer()
    w.write(Buffer.from('F02', 'ascii')); w.writeVarOctetString(Buffer.from('nope', 'ascii'))
    w.writeVarOctetString(Buffer.alloc(0)); w.writeVarOctetString(Buffer.alloc(0))
    const e = new oer.Writer(); e.writeUInt8(14); e.writeVarOctetString(w.getBuffer()); return e.getBuffer()
  })()
  addMalformed('ilp4', 'reject_triggered_by_invalid', rejectBadTrigger)
  addMalformed('ilp4', 'fulfill_short_fulfillment', Buffer.from([13, 3, 1, 2, 3]))
}

// Accepted by JS, not canonical.
const fulfillBuf = ilp3.serializeIlpPacket({ type: 13, data: { fulfillment, data: Buffer.alloc(0) } })
addLenient('ilp4', 'fulfill_trailing_byte_after_envelope', Buffer.concat([fulfillBuf, Buffer.from([0])]), 'trailing bytes')
addLenient('ilp4', 'fulfill_trailing_byte_in_content', Buffer.concat([Buffer.from([13, fulfillBuf[1] + 1]), fulfillBuf.slice(2), Buffer.from([0xee])]), 'trailing bytes inside the content')
{
  const p = Buffer.from(prepareBuf); p.write('20171301000000000', 2 + 8, 'ascii')
  addLenient('ilp4', 'prepare_time_month_13', p, 'month 13: Date.UTC rolls into the next year')
  const q = Buffer.from(prepareBuf); q.write('20170229000000000', 2 + 8, 'ascii')
  addLenient('ilp4', 'prepare_time_feb_29_2017', q, 'no such day: rolls into March')
  addLenient('ilp4', 'prepare_data_32768', ilp3.serializeIlpPacket({ type: 12, data: prepare({ data: bytes(32768) }) }), 'over the RFC 27 data limit; JS does not enforce it')
}

// ---------------------------------------------------------------- legacy

const leg = (name, type, data) => addValid('legacy', name, ilp22.serializeIlpPacket({ type, data }))
leg('ilp_payment_typical', 1, { amount: '1000', account: 'test.crypto.xrp.bob', data: bytes(20) })
leg('ilp_payment_amount_0_empty', 1, { amount: '0', account: '', data: Buffer.alloc(0) })
leg('ilp_payment_amount_u64_max', 1, { amount: U64_MAX, account: 'g.a', data: bytes(128) })
leg('ilp_payment_data_65536', 1, { amount: '9007199254740993', account: 'g.a', data: bytes(65536) })
leg('ilqp_liquidity_request', 2, { destinationAccount: 'test.crypto.eth.', destinationHoldDuration: 3000 })
leg('ilqp_liquidity_request_u32_max_hold', 2, { destinationAccount: 'g.b', destinationHoldDuration: 4294967295 })
const curve = (points) => Buffer.concat(points.map(([x, y]) => { const w = new oer.Writer(); w.writeUInt64(x); w.writeUInt64(y); return w.getBuffer() }))
leg('ilqp_liquidity_response_empty_curve', 3, { liquidityCurve: Buffer.alloc(0), appliesToPrefix: 'test.crypto.', sourceHoldDuration: 3000, expiresAt: T })
leg('ilqp_liquidity_response_two_points', 3, { liquidityCurve: curve([[0, 0], [1000, 2000]]), appliesToPrefix: 'test.crypto.xrp.', sourceHoldDuration: 5000, expiresAt: T })
leg('ilqp_liquidity_response_300_points', 3, { liquidityCurve: curve(Array.from({ length: 300 }, (_, i) => [i * 10, i * 9])), appliesToPrefix: 'g.', sourceHoldDuration: 1, expiresAt: new Date('2000-02-29T00:00:00.000Z') })
leg('ilqp_by_source_request', 4, { destinationAccount: 'test.crypto.xrp.bob', sourceAmount: '1000', destinationHoldDuration: 3000 })
leg('ilqp_by_source_request_u64_max', 4, { destinationAccount: 'g.b', sourceAmount: U64_MAX, destinationHoldDuration: 0 })
leg('ilqp_by_source_response', 5, { destinationAmount: '990', sourceHoldDuration: 4000 })
leg('ilqp_by_source_response_amount_0', 5, { destinationAmount: '0', sourceHoldDuration: 0 })
leg('ilqp_by_destination_request', 6, { destinationAccount: 'test.crypto.eth.carol', destinationAmount: '4294967296', destinationHoldDuration: 3000 })
leg('ilqp_by_destination_response', 7, { sourceAmount: U64_MAX, sourceHoldDuration: 4000 })
leg('ilp_error_no_forwarders', 8, { code: 'F02', name: 'Unreachable', triggeredBy: 'test.crypto.xrp.', forwardedBy: [], triggeredAt: T, data: '' })
leg('ilp_error_forwarded', 8, { code: 'T04', name: 'Insufficient Liquidity', triggeredBy: 'g.a.', forwardedBy: ['g.b.', 'g.c.'], triggeredAt: T, data: 'details' })
leg('ilp_error_long_content', 8, { code: 'L01', name: 'Ledger Error', triggeredBy: 'test.crypto.eth.', forwardedBy: ['test.x.'], triggeredAt: T, data: 'y'.repeat(200) })
leg('ilp_fulfillment', 9, { data: bytes(5) })
leg('ilp_fulfillment_empty', 9, { data: Buffer.alloc(0) })
leg('ilp_forwarded_payment', 10, { account: 'test.crypto.xrp.bob', data: bytes(40) })
leg('ilp_rejection', 11, { code: 'F06', triggeredBy: 'g.x', message: 'unexpected \u00fcber', data: bytes(3) })

const payBuf = ilp22.serializeIlpPacket({ type: 1, data: { amount: '1000', account: 'g.a', data: bytes(3) } })
addMalformed('legacy', 'empty_input', Buffer.alloc(0))
addMalformed('legacy', 'unknown_type_99', Buffer.concat([Buffer.from([99]), payBuf.slice(1)]))
addMalformed('legacy', 'ilp_payment_truncated_amount', Buffer.from([1, 4, 0, 0, 0, 0]))
addMalformed('legacy', 'ilp_payment_length_exceeds_input', Buffer.from([1, 0x81, 0xff, 0, 0]))
addMalformed('legacy', 'ilp_payment_length_prefix_0x80', Buffer.from([1, 0x80]))
{
  const errWriter = (time, forwardedCount) => {
    const w = new oer.Writer()
    w.write(Buffer.from('F02', 'ascii')); w.writeVarOctetString(Buffer.from('Unreachable'))
    w.writeVarOctetString(Buffer.from('g.a.')); w.writeVarUInt(forwardedCount)
    w.writeVarOctetString(Buffer.from(time, 'ascii')); w.writeVarOctetString(Buffer.alloc(0)); w.writeUInt8(0)
    const e = new oer.Writer(); e.writeUInt8(8); e.writeVarOctetString(w.getBuffer()); return e.getBuffer()
  }
  addMalformed('legacy', 'ilp_error_time_garbage', errWriter('not a time at all!!', 0))
  addMalformed('legacy', 'ilp_error_time_missing_z', errWriter('20170914123456.789', 0))
  addMalformed('legacy', 'ilp_error_forwarded_count_exceeds_data', errWriter('20170914123456.789Z', 1000))
  const w = new oer.Writer(); w.writeVarUInt(100); w.write(Buffer.alloc(16))
  const e = new oer.Writer(); e.writeUInt8(3); e.writeVarOctetString(w.getBuffer())
  addMalformed('legacy', 'ilqp_liquidity_response_curve_count_exceeds_data', e.getBuffer())
}
addLenient('legacy', 'ilp_payment_missing_extensibility_byte', Buffer.concat([Buffer.from([1, payBuf[1] - 1]), payBuf.slice(2, payBuf.length - 1)]), 'no trailing 00')
addLenient('legacy', 'ilp_payment_trailing_after_envelope', Buffer.concat([payBuf, Buffer.from([1, 2])]), 'trailing bytes')
addLenient('legacy', 'ilp_payment_extensibility_byte_01', Buffer.concat([payBuf.slice(0, payBuf.length - 1), Buffer.from([1])]), 'extensibility byte not 00')

// ---------------------------------------------------------------- CLP

const entry = (protocolName, contentType, data) => ({ protocolName, contentType, data })
const clpEncode = (type, requestId, data) => btp1.serialize({ type, requestId, data }, btp1.BTP_VERSION_ALPHA)
const clp = (name, type, requestId, data, expect) => addValid('clp', name, clpEncode(type, requestId, data), expect)
const ilpError = (data) => ilp22.serializeIlpPacket({ type: 8, data: { code: 'F02', name: 'Unreachable', triggeredBy: 'test.crypto.xrp.', forwardedBy: [], triggeredAt: T, data } })
const uuid = '5857d460-2a46-4545-8311-1539d99e78e8'
const cond64 = condition.toString('base64')
clp('ack_empty', btp1.TYPE_ACK, 1, [])
clp('ack_request_id_u32_max', btp1.TYPE_ACK, 4294967295, [])
clp('response_three_entries', btp1.TYPE_RESPONSE, 7, [entry('info', 2, Buffer.from('{"a":1}')), entry('balance', 0, bytes(8)), entry('ilp', 1, Buffer.from('text'))])
clp('error_short_reason', btp1.TYPE_ERROR, 8, { rejectionReason: ilpError('bad'), protocolData: [] })
clp('prepare_with_ilp_payment', btp1.TYPE_PREPARE, 9, { transferId: uuid, amount: '1000', executionCondition: cond64, expiresAt: T, protocolData: [entry('ilp', 0, payBuf)] })
clp('prepare_amount_u64_max', btp1.TYPE_PREPARE, 10, { transferId: '00000000-0000-0000-0000-000000000000', amount: U64_MAX, executionCondition: cond64, expiresAt: new Date(0), protocolData: [] })
clp('fulfill', btp1.TYPE_FULFILL, 11, { transferId: uuid, fulfillment: fulfillment.toString('base64'), protocolData: [] })
clp('reject_short_reason', btp1.TYPE_REJECT, 12, { transferId: uuid, rejectionReason: ilpError(''), protocolData: [entry('vouch', 0, bytes(2))] })
clp('message_ilqp', btp1.TYPE_MESSAGE, 13, [entry('ilp', 0, ilp22.serializeIlpPacket({ type: 4, data: { destinationAccount: 'test.crypto.xrp.bob', sourceAmount: '1000', destinationHoldDuration: 3000 } }))])
clp('message_256_entries', btp1.TYPE_MESSAGE, 14, Array.from({ length: 256 }, (_, i) => entry('p' + i, i % 3, bytes(i % 5))))
clp('message_entry_65536', btp1.TYPE_MESSAGE, 15, [entry('ccp', 0, bytes(65536))])
{
  // The JS reader rebuilds the IlpError header as [type, length] and so
  // misreads a reason whose content is over 127 bytes; JS still writes it
  // correctly, and the expected JSON is what was written.
  const longReason = ilpError('z'.repeat(200))
  const buf = clpEncode(btp1.TYPE_REJECT, 16, { transferId: uuid, rejectionReason: longReason, protocolData: [] })
  addValid('clp', 'reject_long_reason_js_misreads', buf, { type: 'reject', requestId: 16, transferId: uuid, rejectionReason: hex(longReason), protocolData: [] })
  const buf2 = clpEncode(btp1.TYPE_ERROR, 17, { rejectionReason: longReason, protocolData: [entry('info', 1, Buffer.from('x'))] })
  addValid('clp', 'error_long_reason_js_misreads', buf2, { type: 'error', requestId: 17, rejectionReason: hex(longReason), protocolData: [{ protocolName: 'info', contentType: 1, data: hex('x') }] })
}
const ackBuf = clpEncode(btp1.TYPE_ACK, 1, [])
addMalformed('clp', 'empty_input', Buffer.alloc(0))
addMalformed('clp', 'truncated_request_id', Buffer.from([1, 0, 0]))
addMalformed('clp', 'unknown_type_9', Buffer.concat([Buffer.from([9]), ackBuf.slice(1)]))
addMalformed('clp', 'protocol_data_count_exceeds_data', Buffer.from([7, 0, 0, 0, 1, 2, 1, 5]))
addMalformed('clp', 'prepare_truncated_transfer_id', Buffer.from([4, 0, 0, 0, 1, 4, 1, 2, 3, 4]))
addMalformed('clp', 'length_prefix_0x80', Buffer.from([1, 0, 0, 0, 1, 0x80]))
addLenient('clp', 'ack_trailing_after_envelope', Buffer.concat([ackBuf, Buffer.from([0])]), 'trailing bytes')
addLenient('clp', 'ack_count_leading_zero', Buffer.from([1, 0, 0, 0, 1, 3, 2, 0, 0]), 'protocolData count 02 00 00: a leading zero byte')
{
  const prep = clpEncode(btp1.TYPE_PREPARE, 9, { transferId: uuid, amount: '1', executionCondition: cond64, expiresAt: T, protocolData: [] })
  const garbage = Buffer.from(prep)
  garbage.write('2017xx14123456.789Z', 5 + 1 + 16 + 8 + 32 + 1, 'ascii')
  addLenient('clp', 'prepare_time_garbage', garbage, 'btp-packet returns Invalid Date instead of throwing')
}

// ---------------------------------------------------------------- BTP 2.0

const b2 = (name, type, requestId, data) => addValid('btp2', name, btp2.serialize({ type, requestId, data }))
b2('response_empty', 1, 1, { protocolData: [] })
b2('response_entries', 1, 4294967295, { protocolData: [entry('ilp', 0, bytes(50)), entry('to', 1, Buffer.from('g.x'))] })
b2('error_f00', 2, 2, { code: 'F00', name: 'NotAcceptedError', triggeredAt: T, data: 'bad request \u2713', protocolData: [] })
b2('error_long_data', 2, 3, { code: 'T00', name: 'Internal', triggeredAt: new Date('2000-02-29T00:00:00.000Z'), data: 'q'.repeat(500), protocolData: [entry('info', 2, Buffer.from('{}'))] })
b2('message_ilp_prepare', 6, 5, { protocolData: [entry('ilp', 0, ilp3.serializeIlpPacket({ type: 12, data: prepare() }))] })
b2('message_256_entries', 6, 6, { protocolData: Array.from({ length: 256 }, (_, i) => entry('n' + i, 0, bytes(1))) })
b2('transfer_amount_0', 7, 7, { amount: '0', protocolData: [] })
b2('transfer_amount_u64_max', 7, 8, { amount: U64_MAX, protocolData: [entry('balance', 0, bytes(8))] })
const b2Buf = btp2.serialize({ type: 1, requestId: 1, data: { protocolData: [] } })
addMalformed('btp2', 'empty_input', Buffer.alloc(0))
addMalformed('btp2', 'clp_prepare_type_3', Buffer.concat([Buffer.from([3]), b2Buf.slice(1)]))
addMalformed('btp2', 'truncated_content', Buffer.from([1, 0, 0, 0, 1, 5, 1]))
addMalformed('btp2', 'transfer_truncated_amount', Buffer.from([7, 0, 0, 0, 1, 3, 0, 0, 0]))
addMalformed('btp2', 'protocol_data_count_exceeds_data', Buffer.from([6, 0, 0, 0, 1, 3, 1, 9, 0]))
addLenient('btp2', 'response_trailing_after_envelope', Buffer.concat([b2Buf, Buffer.from([7])]), 'trailing bytes')
addLenient('btp2', 'response_trailing_in_content', Buffer.from([1, 0, 0, 0, 1, 3, 1, 0, 0xaa]), 'trailing bytes inside the content')

// ---------------------------------------------------------------- output

const packages = {
  'ilp-packet@3': version('ilp-packet_3', 'ilp-packet'),
  'ilp-packet@2.2.0': version('ilp-packet_2_2_0', 'ilp-packet'),
  'ilp-packet@1.7': version('ilp-packet_1_7', 'ilp-packet'),
  'btp-packet@1.2.1': version('btp-packet_1_2_1', 'btp-packet'),
  'btp-packet@2': version('btp-packet_2', 'btp-packet'),
  'oer-utils': version('oer-utils', 'oer-utils')
}
process.stdout.write(JSON.stringify({ generator: 'crates/tally-ilp/tests/vectors/gen.js', packages, valid, malformed, js_lenient: jsLenient }, null, 1) + '\n')
