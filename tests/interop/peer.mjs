#!/usr/bin/env node
// bzzz js-libp2p interop test peer.
//
// Install once:  npm ci --prefix tests/interop      (Node >= 20.19, ESM only)
// Stack: TCP + Noise + Yamux + Identify + Ping, js-libp2p defaults otherwise
// (js-noise offers "/yamux/1.0.0" as a handshake extension and falls back to
// multistream-select when the remote sends none).
//
// Output contract: stdout carries ONLY JSON lines (one object per line);
// human-readable logs go to stderr. Exit codes: 0 success, 1 a check failed
// or timed out, 2 bad usage / startup failure.
//
// Protocols served by every mode (listen, dial, selftest):
//   /bzzz/echo/1.0.0  echoes every byte; half-closes (yamux FIN) after the
//                     remote half-closed and everything was echoed.
//   /bzzz/sink/1.0.0  reads and discards; when the remote half-closes, writes
//                     the byte count as 8 bytes big-endian, then half-closes.
//   /ipfs/id/1.0.0, /ipfs/ping/1.0.0 (libp2p services; js identify 4.x does
//                     not serve /ipfs/id/push/1.0.0 unless identifyPush() is added)
// Identify agentVersion: "bzzz-interop-js/1.0.0 js-libp2p/<ver> node/<ver>".
//
// ---------------------------------------------------------------------------
// node peer.mjs listen [--port P] [--host 127.0.0.1] [--seed HEX64]
//   Listens (port 0 = ephemeral, the real port is in the "listening" line).
//   --seed: 32-byte Ed25519 seed as 64 hex chars, gives a fixed peer id
//   (seed 00..01 -> 12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp).
//   stdout events:
//     {"event":"listening","peer":"12D3...","addrs":["/ip4/127.0.0.1/tcp/P/p2p/12D3..."],
//      "protocols":[...],"agent":"..."}                              once ready
//     {"event":"connect","peer":..,"conn":..,"direction":"inbound"|"outbound","addr":..}
//     {"event":"identify","peer":..,"conn":..,"protocols":[..],"agent":..,
//      "protocol_version":..,"observed":..,"listen":[..]}     per peer:identify
//     {"event":"disconnect","peer":..,"conn":..,"direction":..,"addr":..}
//     {"event":"stats", ...}                       on "stats" and at exit
//   stats fields: connections / streams = currently open connections / yamux
//   streams (all protocols), connections_total = connections opened since
//   start, streams_total = echo+sink streams served since start, fds = entries
//   in /proc/self/fd, rss / heap_used = bytes (after a GC when node runs with
//   --expose-gc).
//   stdin control (one command per line): "stats" prints a stats line,
//   "quit" exits. Exits on SIGTERM/SIGINT, and on stdin EOF *only if stdin is
//   a pipe or socket* (so `node peer.mjs listen ... &` from a script, whose
//   stdin is /dev/null, keeps running until killed). A final stats line is
//   printed on exit.
//
// node peer.mjs dial MULTIADDR [--checks identify,ping,echo,cycles]
//      [--streams 64] [--size 1048576] [--cycles 100] [--timeout 60] [--seed HEX64]
//   Dials MULTIADDR (should end in /p2p/<peer id>, then the Noise handshake
//   verifies it) and runs the checks in the order given, printing one line
//   per check:
//     {"check":"identify","ok":true,"peer":..,"protocols":[..],"agent":..,
//      "protocol_version":..,"observed":..,"listen":[..]}
//        waits up to 10 s for the remote's identify; fails if the remote does
//        not list /ipfs/id/1.0.0, /ipfs/ping/1.0.0 (when "ping" is checked) or
//        /bzzz/echo/1.0.0 (when "echo"/"cycles" are checked).
//     {"check":"ping","ok":true,"rtt_ms":<mean>,"samples":[..],"retries":n}
//        3 pings 250 ms apart; retried on TooManyOutboundProtocolStreams
//        (js allows one outbound ping stream per connection, and its
//        connection monitor also pings every 10 s).
//     {"check":"echo","ok":true,"streams":64,"bytes":<verified bytes>,"seconds":..}
//        --streams concurrent echo streams, each sends --size distinct
//        pseudo-random bytes, half-closes, reads until EOF, compares.
//     {"check":"cycles","ok":true,"cycles":100,"seconds":..,"connections":0}
//        --cycles times: hangUp, dial, wait identify, ping, 4 KiB echo; then a
//        final hangUp; "connections" is the js-side count to the peer
//        afterwards, which must reach 0 within 2 s.
//   A failed check prints {"check":..,"ok":false,"error":"..."}. When
//   --timeout seconds pass, the running and remaining checks are reported as
//   failed and the process exits 1.
//
// node peer.mjs selftest [same options as dial]
//   Starts a listener node and a dialer node in this process and runs the dial
//   checks between them, plus {"check":"listener","ok":..} verifying the
//   listener saw the dialer's identify and ended with 0 connections.
// ---------------------------------------------------------------------------

import {
  ECHO_PROTOCOL, IdentifyTracker, createNode, describeIdentify, emit,
  errorMessage, log, multiaddr, nodeStats, parseCommandLine, pseudoRandomBytes,
  readStream, sendAll, sleep, stdinIsPipe, stopNode, toInt, waitUntil, AGENT
} from './lib.mjs'
import { setMaxListeners } from 'node:events'
import { createInterface } from 'node:readline'

const ALL_CHECKS = ['identify', 'ping', 'echo', 'cycles']
const IDENTIFY_TIMEOUT_MS = 10_000
const DIAL_TIMEOUT_MS = 10_000
const PING_TIMEOUT_MS = 10_000
const CYCLE_ECHO_BYTES = 4096

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  seed: { type: 'string' },
  checks: { type: 'string', default: ALL_CHECKS.join(',') },
  streams: { type: 'string', default: '64' },
  size: { type: 'string', default: String(1 << 20) },
  cycles: { type: 'string', default: '100' },
  timeout: { type: 'string', default: '60' },
  help: { type: 'boolean', short: 'h' }
}

function usage (message) {
  if (message != null) process.stderr.write(`error: ${message}\n`)
  process.stderr.write('usage: node peer.mjs listen|dial MULTIADDR|selftest [options]  (see the header of peer.mjs)\n')
  process.exit(2)
}

// ---------------------------------------------------------------------------
// listen

async function runListen (opts) {
  const counters = { connectionsTotal: 0, streamsTotal: 0 }
  const port = opts.port == null ? 0 : toInt(opts.port, 'port')
  let node = null
  let exiting = false
  const shutdown = async (why) => {
    if (exiting) return
    exiting = true
    log('shutting down:', why)
    if (node != null) {
      emit({ event: 'stats', ...nodeStats(node, counters) })
      await stopNode(node)
    }
    process.exit(0)
  }
  // installed before the node starts, so an early SIGTERM still exits cleanly
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  process.on('SIGINT', () => { shutdown('SIGINT') })

  node = await createNode({
    host: opts.host,
    port,
    seed: opts.seed,
    counters,
    beforeStart: (n) => attachEventPrinter(n, counters)
  })

  emit({
    event: 'listening',
    peer: node.peerId.toString(),
    addrs: node.getMultiaddrs().map(a => a.toString()),
    protocols: node.getProtocols().sort(),
    agent: AGENT
  })
  log('listening as', node.peerId.toString(), 'on', node.getMultiaddrs().map(String).join(' '))

  if (stdinIsPipe()) {
    const rl = createInterface({ input: process.stdin })
    rl.on('line', (line) => {
      const cmd = line.trim()
      if (cmd === 'stats') emit({ event: 'stats', ...nodeStats(node, counters) })
      else if (cmd === 'quit') shutdown('quit command')
      else if (cmd !== '') log('unknown stdin command:', JSON.stringify(cmd))
    })
    rl.on('close', () => { shutdown('stdin closed') })
  }
}

/** Print connect/identify/disconnect events of a listening node. */
function attachEventPrinter (node, counters) {
  const connInfo = (c) => ({
    peer: c.remotePeer.toString(),
    conn: c.id,
    direction: c.direction,
    addr: c.remoteAddr.toString()
  })
  node.addEventListener('connection:open', (evt) => {
    counters.connectionsTotal++
    emit({ event: 'connect', ...connInfo(evt.detail) })
  })
  node.addEventListener('connection:close', (evt) => {
    emit({ event: 'disconnect', ...connInfo(evt.detail) })
  })
  node.addEventListener('peer:identify', (evt) => {
    emit({ event: 'identify', conn: evt.detail.connection?.id, ...describeIdentify(evt.detail) })
  })
}

// ---------------------------------------------------------------------------
// dial checks

/** Ping with retries while another outbound ping stream is still open. */
async function pingWithRetry (node, peerId, signal) {
  let retries = 0
  for (;;) {
    try {
      const rtt = await node.services.ping.ping(peerId, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(PING_TIMEOUT_MS)])
      })
      return { rtt, retries }
    } catch (err) {
      if (err.name !== 'TooManyOutboundProtocolStreamsError') throw err
      if (retries >= 50) {
        err.message += ' (still after 5 s of retries: the remote probably does not close' +
          ' its write side of finished ping streams, so they stay open)'
        throw err
      }
      retries++
      await sleep(100)
    }
  }
}

/**
 * Open one echo stream on `connection`, send `data`, half-close, read back
 * until EOF and compare byte for byte. Returns the number of verified bytes.
 */
async function echoOnce (connection, data, signal) {
  const stream = await connection.newStream(ECHO_PROTOCOL, { signal })
  let received = 0
  const check = (chunk) => {
    const bytes = chunk.subarray()
    const end = received + bytes.byteLength
    if (end > data.byteLength) {
      throw new Error(`received ${end} bytes, sent only ${data.byteLength}`)
    }
    const expected = data.subarray(received, end)
    if (!Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(expected)) {
      let i = 0
      while (bytes[i] === expected[i]) i++
      throw new Error(`echoed byte mismatch at offset ${received + i}`)
    }
    received = end
  }
  const readDone = readStream(stream, check, { signal })
  readDone.catch(() => {}) // awaited below
  try {
    await sendAll(stream, data, { signal })
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err)
    await readDone.catch(() => {})
    throw err
  }
  await readDone
  if (received !== data.byteLength) {
    throw new Error(`echo ended after ${received} of ${data.byteLength} bytes`)
  }
  return received
}

/**
 * Dial `target` from `node` and run `opts.checks`. Emits one line per check.
 * `listenerNode` (selftest only) lets the cycles check also verify the
 * remote side. `state` tracks progress for the overall timeout handler.
 * Returns true when all checks passed.
 */
async function runDialChecks (node, target, opts, state, listenerNode) {
  const signal = state.abort.signal
  const tracker = new IdentifyTracker(node)
  const ma = multiaddr(target)
  let connection
  let allOk = true

  const report = (check, result) => {
    state.pending = state.pending.filter(c => c !== check)
    state.current = null
    if (!result.ok) allOk = false
    emit({ check, ...result })
  }

  const dial = () => node.dial(ma, {
    signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)])
  })

  try {
    connection = await dial()
    log('connected to', connection.remotePeer.toString(), 'via', connection.remoteAddr.toString(),
      'encryption', connection.encryption, 'muxer', connection.multiplexer)
  } catch (err) {
    for (const check of [...state.pending]) {
      report(check, { ok: false, error: `dial failed: ${errorMessage(err)}` })
    }
    tracker.stop()
    return false
  }
  const peerId = connection.remotePeer

  /** The current connection to the peer, re-dialling if it went away. */
  const currentConnection = async () => {
    const open = node.getConnections(peerId).find(c => c.status === 'open')
    return open ?? await dial()
  }

  const checks = {
    identify: async () => {
      const conn = await currentConnection()
      const result = describeIdentify(await tracker.wait(conn, IDENTIFY_TIMEOUT_MS))
      const required = ['/ipfs/id/1.0.0']
      if (opts.checks.includes('ping')) required.push('/ipfs/ping/1.0.0')
      if (opts.checks.includes('echo') || opts.checks.includes('cycles')) required.push(ECHO_PROTOCOL)
      const missing = required.filter(p => !result.protocols.includes(p))
      if (missing.length > 0) {
        return { ok: false, error: `remote does not advertise ${missing.join(', ')}`, ...result }
      }
      return { ok: true, ...result }
    },

    ping: async () => {
      await currentConnection()
      const samples = []
      let retries = 0
      for (let i = 0; i < 3; i++) {
        if (i > 0) await sleep(250)
        const r = await pingWithRetry(node, peerId, signal)
        samples.push(r.rtt)
        retries += r.retries
      }
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length
      return { ok: true, rtt_ms: Math.round(mean * 1000) / 1000, samples, retries }
    },

    echo: async () => {
      const conn = await currentConnection()
      const start = process.hrtime.bigint()
      const settled = await Promise.allSettled(Array.from({ length: opts.streams }, (_, i) =>
        echoOnce(conn, pseudoRandomBytes(opts.size, i + 1), signal)
          .catch(err => { throw new Error(`stream ${i}: ${errorMessage(err)}`) })))
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      const failed = settled.filter(s => s.status === 'rejected')
      const bytes = settled.reduce((n, s) => n + (s.status === 'fulfilled' ? s.value : 0), 0)
      if (failed.length > 0) {
        return {
          ok: false,
          error: `${failed.length}/${opts.streams} streams failed; first: ${failed[0].reason.message}`,
          streams: opts.streams,
          bytes
        }
      }
      return {
        ok: true,
        streams: opts.streams,
        bytes,
        seconds: round3(seconds),
        mib_per_s: round3(2 * bytes / (1 << 20) / seconds) // both directions
      }
    },

    cycles: async () => {
      const payload = pseudoRandomBytes(CYCLE_ECHO_BYTES, 0xc7c1e)
      const start = process.hrtime.bigint()
      for (let i = 0; i < opts.cycles; i++) {
        try {
          await node.hangUp(peerId, { signal })
          const conn = await dial()
          await tracker.wait(conn, IDENTIFY_TIMEOUT_MS)
          await pingWithRetry(node, peerId, signal)
          await echoOnce(conn, payload, signal)
        } catch (err) {
          return { ok: false, error: `cycle ${i + 1}/${opts.cycles}: ${errorMessage(err)}`, cycles: i }
        }
      }
      await node.hangUp(peerId, { signal })
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      await waitUntil(() => node.getConnections(peerId).length === 0, 2000)
      const connections = node.getConnections(peerId).length
      const result = {
        ok: connections === 0,
        cycles: opts.cycles,
        seconds: round3(seconds),
        ms_per_cycle: round3(seconds * 1000 / opts.cycles),
        connections
      }
      if (listenerNode != null) {
        await waitUntil(() => listenerNode.getConnections(node.peerId).length === 0, 2000)
        result.remote_connections = listenerNode.getConnections(node.peerId).length
        if (result.remote_connections !== 0) result.ok = false
      }
      if (!result.ok) result.error = 'connections left open after the final hangUp'
      return result
    }
  }

  for (const check of opts.checks) {
    state.current = check
    log('running check', check)
    try {
      report(check, await checks[check]())
    } catch (err) {
      report(check, { ok: false, error: errorMessage(err) })
    }
  }
  tracker.stop()
  return allOk
}

function round3 (x) {
  return Math.round(x * 1000) / 1000
}

function parseDialOptions (values) {
  const checks = values.checks.split(',').map(s => s.trim()).filter(Boolean)
  const unknown = checks.filter(c => !ALL_CHECKS.includes(c))
  if (unknown.length > 0) usage(`unknown check(s): ${unknown.join(', ')}`)
  return {
    checks,
    streams: toInt(values.streams, 'streams', { min: 1 }),
    size: toInt(values.size, 'size', { min: 1 }),
    cycles: toInt(values.cycles, 'cycles', { min: 1 }),
    timeoutMs: toInt(values.timeout, 'timeout', { min: 1 }) * 1000
  }
}

/**
 * Run `body(state)` under the overall timeout. On timeout the running and
 * pending checks are reported as failed and the process exits 1.
 */
async function withOverallTimeout (opts, body) {
  const state = { current: null, pending: [...opts.checks], abort: new AbortController() }
  setMaxListeners(Infinity, state.abort.signal) // shared by many concurrent streams
  const timer = setTimeout(() => {
    const err = `overall timeout after ${opts.timeoutMs / 1000} s`
    for (const check of state.pending) {
      emit({ check, ok: false, error: check === state.current ? err : `not run: ${err}` })
    }
    state.abort.abort(new Error(err))
    process.exit(1)
  }, opts.timeoutMs)
  try {
    return await body(state)
  } finally {
    clearTimeout(timer)
  }
}

async function runDial (target, values) {
  const opts = parseDialOptions(values)
  try {
    multiaddr(target)
  } catch (err) {
    usage(`invalid multiaddr: ${errorMessage(err)}`)
  }
  const node = await createNode({ seed: values.seed, counters: { connectionsTotal: 0, streamsTotal: 0 } })
  log('dialer peer id', node.peerId.toString())
  const ok = await withOverallTimeout(opts, (state) => runDialChecks(node, target, opts, state))
  await stopNode(node)
  process.exit(ok ? 0 : 1)
}

async function runSelftest (values) {
  const opts = parseDialOptions(values)
  const listenerCounters = { connectionsTotal: 0, streamsTotal: 0 }
  const identified = []
  const listener = await createNode({
    host: '127.0.0.1',
    port: 0,
    seed: values.seed,
    counters: listenerCounters,
    beforeStart: (n) => {
      n.addEventListener('connection:open', () => { listenerCounters.connectionsTotal++ })
      n.addEventListener('peer:identify', (evt) => identified.push(evt.detail))
    }
  })
  const dialer = await createNode({ counters: { connectionsTotal: 0, streamsTotal: 0 } })
  const target = listener.getMultiaddrs()[0].toString()
  log('selftest: listener', target, 'dialer', dialer.peerId.toString())

  let ok = await withOverallTimeout(opts, (state) => runDialChecks(dialer, target, opts, state, listener))

  // The listener's view: it must have identified the dialer (with our echo
  // protocol listed) and have no connection left.
  await waitUntil(() => listener.getConnections().length === 0, 2000)
  const fromDialer = identified.filter(r => r.peerId.equals(dialer.peerId))
  const stats = nodeStats(listener, listenerCounters)
  const listenerOk = fromDialer.length > 0 &&
    fromDialer.every(r => r.protocols.includes(ECHO_PROTOCOL)) &&
    stats.connections === 0
  emit({
    check: 'listener',
    ok: listenerOk,
    identify_events: fromDialer.length,
    connections_total: stats.connections_total,
    streams_total: stats.streams_total,
    connections: stats.connections,
    ...(listenerOk ? {} : { error: 'listener did not identify the dialer or kept connections open' })
  })
  ok &&= listenerOk

  await stopNode(dialer)
  await stopNode(listener)
  process.exit(ok ? 0 : 1)
}

// ---------------------------------------------------------------------------

async function main () {
  let parsed
  try {
    parsed = parseCommandLine(process.argv.slice(2), OPTIONS)
  } catch (err) {
    usage(errorMessage(err))
  }
  const { values, positionals } = parsed
  if (values.help) usage()
  const [mode, ...rest] = positionals
  switch (mode) {
    case 'listen':
      if (rest.length > 0) usage('listen takes no positional arguments')
      return runListen(values)
    case 'dial':
      if (rest.length !== 1) usage('dial needs exactly one MULTIADDR')
      return runDial(rest[0], values)
    case 'selftest':
      if (rest.length > 0) usage('selftest takes no positional arguments')
      return runSelftest(values)
    default:
      usage(mode == null ? 'missing mode' : `unknown mode "${mode}"`)
  }
}

main().catch((err) => {
  log('fatal:', err.stack ?? errorMessage(err))
  emit({ event: 'fatal', error: errorMessage(err) })
  process.exit(2)
})
