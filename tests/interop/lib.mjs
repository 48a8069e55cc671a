// Shared helpers for the bzzz js-libp2p test peer (peer.mjs) and the js
// benchmarks (bench/js/throughput.mjs).
//
// bench/js imports this file by relative path; because Node resolves bare
// specifiers ("libp2p", "@libp2p/tcp", ...) relative to the *importing file*,
// everything imported here comes from tests/interop/node_modules, so bench/js
// needs no node_modules of its own (NODE_PATH does not apply to ESM).
//
// Stream API notes (libp2p 3.x / @libp2p/interface 3.x): a Stream is an event
// target, not a duplex iterable pair. Data arrives as 'message' events
// (Uint8Array | Uint8ArrayList), 'end' fires once the remote has closed its
// write side and every buffered byte was delivered, 'close' fires when the
// stream is finished (with .error set on abort/reset). stream.send() returns
// false when the caller should wait for a 'drain' event; stream.close()
// half-closes our write side (yamux FIN).

import './polyfill.mjs' // must stay first: Node 20 lacks Promise.withResolvers

import { readdirSync, readFileSync, fstatSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

export { multiaddr }

/** Echoes every byte; half-closes when the remote half-closes. */
export const ECHO_PROTOCOL = '/bzzz/echo/1.0.0'
/** Discards everything; at remote EOF answers u64be(byte count) and closes. */
export const SINK_PROTOCOL = '/bzzz/sink/1.0.0'

/** Identify agentVersion of every node created here. */
const LIBP2P_VERSION = JSON.parse(readFileSync(new URL('./node_modules/libp2p/package.json', import.meta.url), 'utf8')).version
export const AGENT = `bzzz-interop-js/1.0.0 js-libp2p/${LIBP2P_VERSION} node/${process.versions.node}`

/** Stream limits for our own protocols (libp2p defaults: 32 in / 64 out). */
const TEST_PROTOCOL_STREAM_LIMIT = 1024

// ---------------------------------------------------------------------------
// Output

/** Machine-readable result: one JSON object per line on stdout. */
export function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

/** Human-readable diagnostics go to stderr. */
export function log (...args) {
  process.stderr.write(`[${new Date().toISOString()}] ${args.join(' ')}\n`)
}

export function errorMessage (err) {
  if (err == null) return 'unknown error'
  const name = err.name != null && err.name !== 'Error' ? `${err.name}: ` : ''
  return `${name}${err.message ?? String(err)}`
}

// ---------------------------------------------------------------------------
// Command line

/**
 * Thin wrapper over util.parseArgs. `spec` maps option name to
 * { type: 'string'|'boolean', default }. Returns { values, positionals }.
 */
export function parseCommandLine (argv, spec) {
  return parseArgs({ args: argv, options: spec, allowPositionals: true, strict: true })
}

export function toInt (value, name, { min = 0 } = {}) {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`--${name} must be an integer >= ${min}, got "${value}"`)
  }
  return n
}

// ---------------------------------------------------------------------------
// Process introspection

/** Number of open file descriptors of this process (Linux /proc). */
export function fdCount () {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return -1
  }
}

/** Resident set size of another process in bytes, from /proc/PID/status. */
export function rssOfPid (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
  if (m == null) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(m[1]) * 1024
}

/** True when fd 0 is a pipe or socket, i.e. somebody may close it on purpose. */
export function stdinIsPipe () {
  try {
    const st = fstatSync(0)
    return st.isFIFO() || st.isSocket()
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------
// Node construction

function hexToBytes (hex) {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new Error('--seed must be exactly 64 hex characters (32 bytes)')
  }
  return Uint8Array.from(hex.match(/../g), b => parseInt(b, 16))
}

/**
 * Create and start a libp2p node with the stack the C++ node implements:
 * TCP, Noise, Yamux, Identify, Ping. No muxer-negotiation tweaks: js-noise
 * offers "/yamux/1.0.0" in its handshake extensions and falls back to
 * multistream-select when the remote sends none.
 *
 * @param {object} opts
 * @param {string} [opts.host] listen host; omit `port` to create a dial-only node
 * @param {number} [opts.port] listen port (0 = ephemeral)
 * @param {string} [opts.seed] 64 hex chars: deterministic Ed25519 identity
 * @param {object} [opts.counters] if given, echo/sink handlers are registered
 *   and bump counters.streamsTotal
 * @param {function} [opts.beforeStart] called with the node before it starts
 *   listening (attach event listeners here so no event is missed)
 * @param {object} [opts.services] more libp2p services (gossipsub, kad-dht)
 */
export async function createNode ({ host = '127.0.0.1', port, seed, counters, beforeStart, services = {} } = {}) {
  const listen = []
  if (port != null) {
    const family = host.includes(':') ? 'ip6' : 'ip4'
    listen.push(`/${family}/${host}/tcp/${port}`)
  }

  const init = {
    start: false,
    nodeInfo: { name: 'bzzz-interop-js', version: '1.0.0', userAgent: AGENT },
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      ...services
    },
    connectionManager: {
      // Test peer, loopback only: never refuse or prune connections. The
      // defaults (5 inbound connections per second per host, 10 pending
      // inbound, 300 total) would make connect/hang-up cycle tests flaky.
      maxConnections: 100_000,
      maxIncomingPendingConnections: 10_000,
      inboundConnectionThreshold: 100_000,
      allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']
    }
  }
  if (seed != null) {
    init.privateKey = await generateKeyPairFromSeed('Ed25519', hexToBytes(seed))
  }

  const node = await createLibp2p(init)
  if (counters != null) {
    await registerTestProtocols(node, counters)
  }
  await beforeStart?.(node)
  await node.start()
  return node
}

/** Register the echo and sink protocol handlers. */
export async function registerTestProtocols (node, counters) {
  const opts = {
    maxInboundStreams: TEST_PROTOCOL_STREAM_LIMIT,
    maxOutboundStreams: TEST_PROTOCOL_STREAM_LIMIT
  }
  await node.handle(ECHO_PROTOCOL, (stream) => {
    counters.streamsTotal++
    return handleEcho(stream)
  }, opts)
  await node.handle(SINK_PROTOCOL, (stream) => {
    counters.streamsTotal++
    return handleSink(stream)
  }, opts)
}

// ---------------------------------------------------------------------------
// Stream helpers

/**
 * Deliver every chunk the remote sends to `onChunk` until the remote closes
 * its write side (resolves) or the stream is reset/aborted (rejects).
 * onChunk receives Uint8Array | Uint8ArrayList (both have .byteLength and
 * .subarray()).
 */
export function readStream (stream, onChunk, { signal } = {}) {
  return new Promise((resolve, reject) => {
    if (stream.readableEnded) {
      resolve()
      return
    }
    const cleanup = () => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const fail = (err) => {
      cleanup()
      reject(err)
    }
    const onMessage = (evt) => {
      try {
        onChunk(evt.data)
      } catch (err) {
        stream.abort(err)
        fail(err)
      }
    }
    const onEnd = () => {
      cleanup()
      resolve()
    }
    const onClose = (evt) => {
      if (evt.error != null) {
        fail(evt.error)
      } else if (stream.readableEnded) {
        onEnd()
      } else {
        fail(new Error('stream closed before the remote closed its write side'))
      }
    }
    const onAbort = () => {
      const err = signal.reason ?? new Error('aborted')
      stream.abort(err)
      fail(err)
    }
    if (signal?.aborted) {
      onAbort()
      return
    }
    signal?.addEventListener('abort', onAbort)
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
  })
}

/**
 * Resolve once the stream may be written to again. Uses the 'drain' event
 * directly: in @libp2p/utils 7.x stream.onDrain() caches its first promise, so
 * after the first drain it no longer waits.
 */
export function waitDrain (stream, { signal } = {}) {
  if (!stream.writableNeedsDrain) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onDrain = () => { cleanup(); resolve() }
    const onClose = (evt) => {
      cleanup()
      reject(evt.error ?? new Error('stream closed while waiting for drain'))
    }
    const onAbort = () => { cleanup(); reject(signal.reason ?? new Error('aborted')) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

/** Send `data` in `chunkSize` pieces honouring back-pressure. */
export async function sendAll (stream, data, { chunkSize = 64 * 1024, signal } = {}) {
  for (let off = 0; off < data.byteLength; off += chunkSize) {
    signal?.throwIfAborted()
    if (!stream.send(data.subarray(off, Math.min(off + chunkSize, data.byteLength)))) {
      await waitDrain(stream, { signal })
    }
  }
}

/**
 * /bzzz/echo/1.0.0 responder. When our send buffer fills we pause reading,
 * which makes yamux withhold window updates, so the remote is throttled
 * instead of us buffering without bound.
 */
export async function handleEcho (stream) {
  const onChunk = (data) => {
    if (stream.send(data)) return
    if (stream.readStatus === 'readable') stream.pause()
    waitDrain(stream).then(() => {
      if (stream.readStatus === 'paused') stream.resume()
    }, () => {}) // close/reset surfaces through readStream below
  }
  try {
    await readStream(stream, onChunk)
    await stream.close() // flushes queued data, then sends FIN
  } catch (err) {
    stream.abort(err)
  }
}

/** /bzzz/sink/1.0.0 responder: count bytes, answer u64be(count) at EOF. */
export async function handleSink (stream) {
  let count = 0
  try {
    await readStream(stream, (data) => { count += data.byteLength })
    const answer = new Uint8Array(8)
    new DataView(answer.buffer).setBigUint64(0, BigInt(count))
    stream.send(answer)
    await stream.close()
  } catch (err) {
    stream.abort(err)
  }
}

/**
 * Client side of /bzzz/sink/1.0.0 on an open connection: send `totalBytes`
 * (repeating `buf`), half-close, read the 8-byte count. Returns
 * { bytes, seconds, acknowledged } where `seconds` runs from the first byte
 * sent until the count arrived.
 */
export async function sinkSend (connection, totalBytes, { buf, signal } = {}) {
  buf ??= pseudoRandomBytes(1 << 20, 0x5eed)
  const stream = await connection.newStream(SINK_PROTOCOL, { signal })
  const reply = []
  const replyDone = readStream(stream, (d) => reply.push(d.subarray()), { signal })
  replyDone.catch(() => {}) // awaited below; avoid an unhandled rejection meanwhile
  const start = process.hrtime.bigint()
  let sent = 0
  while (sent < totalBytes) {
    const piece = totalBytes - sent >= buf.byteLength ? buf : buf.subarray(0, totalBytes - sent)
    sent += piece.byteLength
    if (!stream.send(piece)) await waitDrain(stream, { signal })
  }
  await stream.close({ signal })
  await replyDone
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const answer = concat(reply)
  if (answer.byteLength !== 8) {
    throw new Error(`sink answered ${answer.byteLength} bytes, expected 8`)
  }
  const acknowledged = Number(new DataView(answer.buffer, answer.byteOffset, 8).getBigUint64(0))
  return { bytes: sent, seconds, acknowledged }
}

export function concat (chunks) {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0)
  const out = new Uint8Array(total)
  let off = 0
  for (const c of chunks) {
    out.set(c, off)
    off += c.byteLength
  }
  return out
}

/**
 * Deterministic pseudo-random bytes (xorshift32). Different seeds give
 * different streams, so a cross-stream mix-up in the muxer is detected.
 */
export function pseudoRandomBytes (length, seed) {
  const words = new Uint32Array(Math.ceil(length / 4))
  let x = (seed >>> 0) || 0x9e3779b9
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    words[i] = x
  }
  return new Uint8Array(words.buffer, 0, length)
}

// ---------------------------------------------------------------------------
// Identify bookkeeping

/**
 * Collects 'peer:identify' results per connection id, so callers can wait for
 * the identify exchange of one specific connection even if the event fired
 * before libp2p.dial() returned.
 */
export class IdentifyTracker {
  constructor (node) {
    this.results = new Map() // connection id -> IdentifyResult
    this.waiters = new Map() // connection id -> resolve fn
    this.onIdentify = (evt) => {
      const id = evt.detail.connection?.id
      if (id == null) return
      const waiter = this.waiters.get(id)
      if (waiter != null) {
        this.waiters.delete(id)
        waiter(evt.detail)
      } else {
        this.results.set(id, evt.detail)
        // keep the map bounded in long loops
        if (this.results.size > 1024) this.results.delete(this.results.keys().next().value)
      }
    }
    node.addEventListener('peer:identify', this.onIdentify)
    this.node = node
  }

  /** Resolve with the IdentifyResult of `connection`, reject after timeoutMs. */
  wait (connection, timeoutMs) {
    const ready = this.results.get(connection.id)
    if (ready != null) {
      this.results.delete(connection.id)
      return Promise.resolve(ready)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(connection.id)
        reject(new Error(`no identify result from ${connection.remotePeer} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.set(connection.id, (result) => {
        clearTimeout(timer)
        resolve(result)
      })
    })
  }

  stop () {
    this.node.removeEventListener('peer:identify', this.onIdentify)
  }
}

/** JSON-friendly view of an IdentifyResult. */
export function describeIdentify (result) {
  return {
    peer: result.peerId.toString(),
    protocols: [...result.protocols].sort(),
    agent: result.agentVersion ?? null,
    protocol_version: result.protocolVersion ?? null,
    observed: result.observedAddr?.toString() ?? null,
    listen: result.listenAddrs.map(a => a.toString())
  }
}

/** Stats snapshot of a node (used by the `stats` control and on exit). */
export function nodeStats (node, counters) {
  if (typeof globalThis.gc === 'function') globalThis.gc() // only with --expose-gc
  const conns = node.getConnections()
  const mem = process.memoryUsage()
  return {
    connections: conns.length,
    streams: conns.reduce((n, c) => n + c.streams.length, 0),
    connections_total: counters.connectionsTotal,
    streams_total: counters.streamsTotal,
    fds: fdCount(),
    rss: mem.rss,
    heap_used: mem.heapUsed
  }
}

/** Poll `fn` every 20 ms until it returns true or timeoutMs elapses. */
export async function waitUntil (fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (!fn()) {
    if (Date.now() >= deadline) return false
    await sleep(20)
  }
  return true
}

export function sleep (ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Stop a node, but never hang the process on it. */
export async function stopNode (node, timeoutMs = 3000) {
  await Promise.race([
    node.stop().catch(err => log('node.stop failed:', errorMessage(err))),
    sleep(timeoutMs)
  ])
}
