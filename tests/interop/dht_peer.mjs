#!/usr/bin/env node
// bzzz kad-dht interop peer (@libp2p/kad-dht 16, libp2p 3). The js side of
// tests/interop/dht_interop_test.sh; its C++ counterpart is bzzz-dht-probe
// (tests/tools/dht_probe.cc).
//
// Every node here runs the DHT in server mode on --protocol (default
// /bzzz/kad/1.0.0), keeps loopback addresses (passthroughMapper: the default
// mapper drops them), and validates the "bzzz" namespace the way bzzz does:
// /bzzz/<peer id>/<name> holds a BzzzRecord protobuf
//   { bytes value = 1; uint64 seq = 2; bytes publicKey = 3; bytes signature = 4 }
// signed by that peer's key over
//   "bzzz-record:" || uvarint(len key) || key || uvarint(len value) || value || u64be(seq)
// and the highest seq wins. Records are written and checked here independently of
// the C++ code, so a check passing means both agree on the format.
//
// Output: stdout carries only JSON lines, logs go to stderr. Exit codes: 0 ok,
// 1 a check failed or timed out, 2 bad usage / startup failure.
//
// node dht_peer.mjs listen [--port 0] [--protocol P]
//   A main node (on --port) and a helper node connected to it. The main node puts
//   a signed record under /bzzz/<main id>/interop (value "from-js", seq 1) and
//   provides sha256("bzzz-interop-js"), then prints
//     {"event":"listening","peer":..,"addrs":[..],"helper":..,"record_key":..,
//      "provider_key":"<hex multihash>"}
//   and serves until SIGTERM/SIGINT, "quit" on stdin, or stdin's EOF when stdin is
//   a pipe. "stats" on stdin prints {"event":"stats","routing_table":..,
//   "connections":..} for the main node.
//
// node dht_peer.mjs dial MULTIADDR --helper ID [--protocol P] [--timeout 60]
//      [--checks find_node,get_value,put_value,providers]
//   Dials a bzzz node (MULTIADDR, e.g. `bzzz-dht-probe listen`; ID its helper) and
//   runs the checks, one line each. Every check looks at the PEER_RESPONSE events
//   whose sender is the bzzz node, so the answer is the remote's, not ours:
//     find_node  findPeer(helper): the bzzz node's FIND_NODE answer lists the
//                helper with addresses
//     get_value  get(/bzzz/<bzzz id>/interop): the bzzz node answers a record that
//                our validator accepts, with value "from-cpp"
//     put_value  put of our own signed /bzzz/<js id>/interop-js record: the bzzz
//                node echoes the PUT_VALUE, and a get afterwards is answered by it
//                with our value (it validated and stored it)
//     providers  findProviders(sha256("bzzz-interop-cpp")): the bzzz node lists
//                itself with addresses; then provide(sha256("bzzz-interop-js-dial"))
//                and findProviders of it: the bzzz node lists us (it stored our
//                ADD_PROVIDER)
//   {"check":..,"ok":false,"error":..} on failure.
//
// node dht_peer.mjs selftest
//   A listener and a dialer in this process, js against js: runs the dial checks
//   against the listener (the expected values swapped accordingly; js does not
//   list itself as a provider, so that half of "providers" is skipped).

import './polyfill.mjs' // must stay first: Node 20 lacks Promise.withResolvers

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { createInterface } from 'node:readline'
import {
  AGENT, emit, errorMessage, log, multiaddr, parseCommandLine, sleep, stdinIsPipe,
  stopNode, toInt, waitUntil
} from './lib.mjs'

const ALL_CHECKS = ['find_node', 'get_value', 'put_value', 'providers']
const RAW_CODEC = 0x55
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

const OPTIONS = {
  port: { type: 'string' },
  protocol: { type: 'string', default: '/bzzz/kad/1.0.0' },
  helper: { type: 'string' },
  checks: { type: 'string', default: ALL_CHECKS.join(',') },
  timeout: { type: 'string', default: '60' },
  help: { type: 'boolean', short: 'h' }
}

function usage (message) {
  if (message != null) process.stderr.write(`error: ${message}\n`)
  process.stderr.write('usage: node dht_peer.mjs listen|dial MULTIADDR --helper ID|selftest [options]  (see its header)\n')
  process.exit(2)
}

// ---------------------------------------------------------------------------
// bzzz records

function concatBytes (...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

function uvarint (n) {
  let v = BigInt(n)
  const out = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
  return Uint8Array.from(out)
}

function readUvarint (bytes, pos) {
  let v = 0n
  let shift = 0n
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new Error('BzzzRecord: truncated varint')
    const b = bytes[pos++]
    v |= BigInt(b & 0x7f) << shift
    if ((b & 0x80) === 0) return [v, pos]
    shift += 7n
  }
  throw new Error('BzzzRecord: varint too long')
}

function signingPayload (key, value, seq) {
  const seqBytes = new Uint8Array(8)
  new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq))
  return concatBytes(utf8.encode('bzzz-record:'), uvarint(key.length), key, uvarint(value.length), value, seqBytes)
}

function lengthDelimited (field, bytes) {
  return concatBytes(Uint8Array.of((field << 3) | 2), uvarint(bytes.length), bytes)
}

function encodeBzzzRecord ({ value, seq, publicKey, signature }) {
  return concatBytes(
    lengthDelimited(1, value),
    Uint8Array.of((2 << 3) | 0), uvarint(seq),
    lengthDelimited(3, publicKey),
    lengthDelimited(4, signature))
}

function decodeBzzzRecord (bytes) {
  const rec = { value: new Uint8Array(0), seq: 0n, publicKey: new Uint8Array(0), signature: new Uint8Array(0) }
  let pos = 0
  while (pos < bytes.length) {
    let tag
    [tag, pos] = readUvarint(bytes, pos)
    const field = Number(tag >> 3n)
    const wire = Number(tag & 7n)
    if (wire === 0) {
      let v
      [v, pos] = readUvarint(bytes, pos)
      if (field === 2) rec.seq = v
    } else if (wire === 2) {
      let len
      [len, pos] = readUvarint(bytes, pos)
      const end = pos + Number(len)
      if (end > bytes.length) throw new Error('BzzzRecord: field past the end')
      const body = bytes.subarray(pos, end)
      pos = end
      if (field === 1) rec.value = body
      if (field === 3) rec.publicKey = body
      if (field === 4) rec.signature = body
    } else {
      throw new Error(`BzzzRecord: wire type ${wire}`)
    }
  }
  return rec
}

async function makeBzzzRecord (privateKey, name, value, seq) {
  const id = peerIdFromPublicKey(privateKey.publicKey).toString()
  const key = utf8.encode(`/bzzz/${id}/${name}`)
  const signature = await privateKey.sign(signingPayload(key, value, seq))
  const record = encodeBzzzRecord({ value, seq, publicKey: publicKeyToProtobuf(privateKey.publicKey), signature })
  return { key, record }
}

async function validateBzzz (key, value) {
  const text = fromUtf8.decode(key)
  const m = /^\/bzzz\/([^/]+)\/(.+)$/s.exec(text)
  if (m == null) throw new Error(`not a /bzzz/<peer id>/<name> key: ${text}`)
  const rec = decodeBzzzRecord(value)
  const publicKey = publicKeyFromProtobuf(rec.publicKey)
  if (peerIdFromPublicKey(publicKey).toString() !== m[1]) {
    throw new Error(`${text} is signed by a key other than its peer's`)
  }
  if (!(await publicKey.verify(signingPayload(key, rec.value, rec.seq), rec.signature))) {
    throw new Error(`the signature of ${text} does not verify`)
  }
}

function selectBzzz (key, records) {
  let best = 0
  let bestSeq = -1n
  records.forEach((r, i) => {
    try {
      const seq = decodeBzzzRecord(r).seq
      if (seq > bestSeq) {
        best = i
        bestSeq = seq
      }
    } catch {}
  })
  return best
}

async function cidOf (text) {
  return CID.createV1(RAW_CODEC, await sha256.digest(utf8.encode(text)))
}

const hex = (bytes) => Buffer.from(bytes).toString('hex')

// ---------------------------------------------------------------------------
// nodes

async function createDhtNode ({ port = 0, protocol }) {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createLibp2p({
    privateKey,
    nodeInfo: { name: 'bzzz-interop-js-dht', version: '1.0.0', userAgent: AGENT },
    addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        validators: { bzzz: validateBzzz },
        selectors: { bzzz: selectBzzz },
        allowQueryWithZeroPeers: true
      })
    },
    connectionManager: {
      maxConnections: 10_000,
      maxIncomingPendingConnections: 1_000,
      inboundConnectionThreshold: 10_000,
      allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']
    }
  })
  await node.services.dht.setMode('server')
  return { node, privateKey, dht: node.services.dht }
}

function addrOf (node) {
  return node.getMultiaddrs().find(a => a.toString().startsWith('/ip4/127.0.0.1/'))
}

async function waitForTable (dht, peerId, timeoutMs) {
  const ok = await waitUntil(() => dht.routingTable.size > 0, timeoutMs)
  if (!ok) throw new Error(`${peerId} never entered the routing table`)
}

async function collect (iterable) {
  const events = []
  for await (const e of iterable) events.push(e)
  return events
}

// ---------------------------------------------------------------------------
// listen

async function startListener (opts) {
  const port = opts.port == null ? 0 : toInt(opts.port, 'port')
  const main = await createDhtNode({ port, protocol: opts.protocol })
  const helper = await createDhtNode({ protocol: opts.protocol })
  await helper.node.dial(addrOf(main.node))
  await waitForTable(main.dht, helper.node.peerId, 10_000)
  await waitForTable(helper.dht, main.node.peerId, 10_000)
  const { key, record } = await makeBzzzRecord(main.privateKey, 'interop', utf8.encode('from-js'), 1)
  await collect(main.dht.put(key, record, { signal: AbortSignal.timeout(20_000) }))
  const cid = await cidOf('bzzz-interop-js')
  await collect(main.dht.provide(cid, { signal: AbortSignal.timeout(20_000) }))
  return {
    main,
    helper,
    line: {
      event: 'listening',
      peer: main.node.peerId.toString(),
      addrs: [addrOf(main.node).toString()],
      helper: helper.node.peerId.toString(),
      record_key: fromUtf8.decode(key),
      provider_key: hex(cid.multihash.bytes),
      protocol: opts.protocol
    }
  }
}

async function runListen (opts) {
  let nodes = null
  let exiting = false
  const shutdown = async (why) => {
    if (exiting) return
    exiting = true
    log('shutting down:', why)
    if (nodes != null) {
      await stopNode(nodes.helper.node)
      await stopNode(nodes.main.node)
    }
    process.exit(0)
  }
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  process.on('SIGINT', () => { shutdown('SIGINT') })
  nodes = await startListener(opts)
  emit(nodes.line)
  if (stdinIsPipe()) {
    const rl = createInterface({ input: process.stdin })
    rl.on('line', (line) => {
      const cmd = line.trim()
      if (cmd === 'stats') {
        emit({
          event: 'stats',
          routing_table: nodes.main.dht.routingTable.size,
          connections: nodes.main.node.getConnections().length
        })
      } else if (cmd === 'quit') {
        shutdown('quit')
      }
    })
    rl.on('close', () => { shutdown('stdin closed') })
  }
  await new Promise(() => {}) // until a signal
}

// ---------------------------------------------------------------------------
// dial

// Runs the checks from `dialer` against `remote` (a peer id string); `expected`
// names what the remote holds: its record's value and its provider key text.
async function runChecks (dialer, remote, helper, checks, expected, deadlineMs) {
  const { dht, node, privateKey } = dialer
  const me = node.peerId.toString()
  const fromRemote = (e) => e.name === 'PEER_RESPONSE' && e.from.toString() === remote
  const signal = () => AbortSignal.timeout(Math.max(1000, deadlineMs - Date.now()))
  let allOk = true
  const report = (result) => {
    allOk = allOk && result.ok
    emit(result)
  }
  for (const check of checks) {
    try {
      if (Date.now() >= deadlineMs) throw new Error('timed out')
      if (check === 'find_node') {
        const events = await collect(dht.findPeer(peerIdFromString(helper), { signal: signal() }))
        const answer = events.filter(fromRemote).flatMap(e => e.closer)
        const listed = answer.find(p => p.id.toString() === helper && p.multiaddrs.length > 0)
        report({
          check,
          ok: listed != null,
          closer: answer.map(p => p.id.toString()),
          addrs: listed?.multiaddrs.map(a => a.toString()) ?? []
        })
      } else if (check === 'get_value') {
        const key = utf8.encode(`/bzzz/${remote}/interop`)
        const events = await collect(dht.get(key, { signal: signal() }))
        const records = events.filter(e => fromRemote(e) && e.record != null).map(e => e.record)
        let value = null
        let seq = null
        if (records.length > 0) {
          await validateBzzz(key, records[0].value)
          const rec = decodeBzzzRecord(records[0].value)
          value = fromUtf8.decode(rec.value)
          seq = Number(rec.seq)
        }
        report({ check, ok: value === expected.value, value, seq })
      } else if (check === 'put_value') {
        const { key, record } = await makeBzzzRecord(privateKey, 'interop-js', utf8.encode(`put-by-${me}`), 2)
        const putEvents = await collect(dht.put(key, record, { signal: signal() }))
        const echoed = putEvents.some(e => fromRemote(e) && e.record != null &&
          Buffer.compare(Buffer.from(e.record.value), Buffer.from(record)) === 0)
        const getEvents = await collect(dht.get(key, { signal: signal() }))
        const stored = getEvents.some(e => fromRemote(e) && e.record != null &&
          Buffer.compare(Buffer.from(e.record.value), Buffer.from(record)) === 0)
        report({ check, ok: echoed && stored, echoed, stored })
      } else if (check === 'providers') {
        const theirs = await cidOf(expected.providerText)
        const found = (await collect(dht.findProviders(theirs, { signal: signal() })))
          .filter(fromRemote).flatMap(e => e.providers)
        // (js does not list itself for a key it provides: its peer store has no
        // addresses for itself, so the selftest skips this half.)
        const remoteListed = expected.remoteListsItself
          ? found.some(p => p.id.toString() === remote && p.multiaddrs.length > 0)
          : null
        const ours = await cidOf(`bzzz-interop-js-dial-${me}`)
        await collect(dht.provide(ours, { signal: signal() }))
        const back = (await collect(dht.findProviders(ours, { signal: signal() })))
          .filter(fromRemote).flatMap(e => e.providers)
        const weListed = back.some(p => p.id.toString() === me && p.multiaddrs.length > 0)
        report({ check, ok: remoteListed !== false && weListed, remote_listed: remoteListed, we_listed: weListed })
      }
    } catch (err) {
      report({ check, ok: false, error: errorMessage(err) })
    }
  }
  return allOk
}

async function runDial (target, opts, checks) {
  if (opts.helper == null) usage('dial needs --helper ID')
  const deadline = Date.now() + toInt(opts.timeout, 'timeout', { min: 1 }) * 1000
  const ma = multiaddr(target)
  const remote = ma.getComponents().find(c => c.name === 'p2p')?.value
  if (remote == null) usage('MULTIADDR must end in /p2p/<peer id>')
  const dialer = await createDhtNode({ protocol: opts.protocol })
  log('dialer peer id', dialer.node.peerId.toString())
  let ok = false
  try {
    await dialer.node.dial(ma, { signal: AbortSignal.timeout(10_000) })
    await waitForTable(dialer.dht, remote, 10_000)
    ok = await runChecks(dialer, remote, opts.helper, checks, { value: 'from-cpp', providerText: 'bzzz-interop-cpp', remoteListsItself: true }, deadline)
  } catch (err) {
    emit({ check: 'connect', ok: false, error: errorMessage(err) })
  }
  await stopNode(dialer.node)
  process.exit(ok ? 0 : 1)
}

async function runSelftest (opts, checks) {
  const listener = await startListener({ ...opts, port: '0' })
  const dialer = await createDhtNode({ protocol: opts.protocol })
  let ok = false
  try {
    await dialer.node.dial(multiaddr(listener.line.addrs[0]), { signal: AbortSignal.timeout(10_000) })
    await waitForTable(dialer.dht, listener.line.peer, 10_000)
    ok = await runChecks(dialer, listener.line.peer, listener.line.helper, checks,
      { value: 'from-js', providerText: 'bzzz-interop-js', remoteListsItself: false }, Date.now() + 60_000)
  } catch (err) {
    emit({ check: 'connect', ok: false, error: errorMessage(err) })
  }
  await Promise.all([dialer.node, listener.helper.node, listener.main.node].map(n => stopNode(n)))
  process.exit(ok ? 0 : 1)
}

async function main () {
  let parsed
  try {
    parsed = parseCommandLine(process.argv.slice(2), OPTIONS)
  } catch (err) {
    usage(errorMessage(err))
  }
  const { values: opts, positionals } = parsed
  if (opts.help) usage()
  const checks = opts.checks.split(',').filter(c => c !== '')
  for (const c of checks) {
    if (!ALL_CHECKS.includes(c)) usage(`unknown check ${c}`)
  }
  const [mode, target] = positionals
  if (mode === 'listen') return runListen(opts)
  if (mode === 'dial') {
    if (target == null) usage('dial needs MULTIADDR')
    return runDial(target, opts, checks)
  }
  if (mode === 'selftest') return runSelftest(opts, checks)
  usage(`unknown mode ${mode ?? '(none)'}`)
}

main().catch((err) => {
  log('fatal:', errorMessage(err), err?.stack ?? '')
  process.exit(2)
})
