#!/usr/bin/env node
// js-libp2p reference benchmarks for bzzz (TCP + Noise + Yamux + Identify).
//
// Dependencies: none of its own. It imports ../../tests/interop/lib.mjs, whose
// bare imports resolve from tests/interop/node_modules, so run
// `npm ci --prefix tests/interop` once first. (NODE_PATH is ignored by ESM
// resolution; the relative import is what makes this work.)
//
// Output: one JSON line per benchmark on stdout, logs on stderr.
//   {"bench":"stream_throughput","impl":"js","bytes":N,"seconds":S,"mib_per_s":R}
//   {"bench":"handshakes","impl":"js","count":N,"seconds":S,"per_s":R}
//   {"bench":"idle_conn_memory","impl":"js","connections":200,"bytes_per_conn":B,
//    "heap_bytes_per_conn":H,"rss_before":..,"rss_after":..}
// Exit code 0 when every selected benchmark ran, 1 otherwise, 2 on bad usage.
//
// Modes
//   node bench/js/throughput.mjs [options]
//       js <-> js on loopback. Spawns `node --expose-gc tests/interop/peer.mjs
//       listen --port 0` as the listener child process; this process dials.
//   node bench/js/throughput.mjs --dial MULTIADDR [--pid PID] [--impl NAME] [options]
//       The same measurements against any remote (e.g. the C++ node) that
//       serves /bzzz/sink/1.0.0 (for stream_throughput) and identify (for
//       handshakes). idle_conn_memory needs --pid (the remote's process id;
//       its VmRSS is read from /proc) and is skipped without it.
//   node bench/js/throughput.mjs --listen [--port P] [--host H] [--seed HEX64]
//       Only be the js listener for a remote dialer: runs the listen mode of
//       tests/interop/peer.mjs in this process (serves /bzzz/sink/1.0.0 and
//       /bzzz/echo/1.0.0; stdout events, stdin "stats" control and exit rules
//       as documented there).
//
// Options
//   --bench stream,handshakes,memory   which benchmarks (default: all)
//   --mib N          stream_throughput payload, MiB (default 256)
//   --seconds S      handshakes duration (default 5)
//   --connections N  idle_conn_memory connection count (default 200)
//   --impl NAME      "impl" label in the output (default "js"; "remote" with --dial)
//
// What is measured
//   stream_throughput: one /bzzz/sink/1.0.0 stream on an established
//     connection; from the first byte sent until the sink's 8-byte count
//     arrives (payload only: Noise/yamux framing is not counted).
//   handshakes: sequential dial (TCP + multistream + Noise XX + yamux) until
//     the dialer received the remote's identify, then hangUp; count per second.
//   idle_conn_memory: listener RSS after N idle connections minus before,
//     divided by N. Each connection comes from a distinct js node (own peer
//     id) in this process; 10 warm-up connections are opened before the
//     baseline. With the local js listener both samples are taken right after
//     a forced GC.

import {
  IdentifyTracker, createNode, emit, errorMessage, log, multiaddr,
  parseCommandLine, pseudoRandomBytes, rssOfPid, sinkSend, sleep, stopNode,
  toInt
} from '../../tests/interop/lib.mjs'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const PEER_SCRIPT = fileURLToPath(new URL('../../tests/interop/peer.mjs', import.meta.url))
const BENCHES = ['stream', 'handshakes', 'memory']
const IDENTIFY_TIMEOUT_MS = 10_000
const BENCH_TIMEOUT_MS = 60_000 // hard stop for a hung benchmark
const WARMUP_CONNECTIONS = 10

const OPTIONS = {
  dial: { type: 'string' },
  pid: { type: 'string' },
  listen: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  seed: { type: 'string' },
  bench: { type: 'string', default: BENCHES.join(',') },
  mib: { type: 'string', default: '256' },
  seconds: { type: 'string', default: '5' },
  connections: { type: 'string', default: '200' },
  impl: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
}

function usage (message) {
  if (message != null) process.stderr.write(`error: ${message}\n`)
  process.stderr.write('usage: node bench/js/throughput.mjs [--dial MULTIADDR [--pid PID]] | --listen  (see the file header)\n')
  process.exit(2)
}

const round3 = (x) => Math.round(x * 1000) / 1000

// ---------------------------------------------------------------------------
// The listener child process (tests/interop/peer.mjs listen)

class ListenerChild {
  constructor () {
    this.child = spawn(process.execPath, ['--expose-gc', PEER_SCRIPT, 'listen', '--port', '0'], {
      stdio: ['pipe', 'pipe', 'inherit']
    })
    this.statsWaiters = []
    this.exited = new Promise(resolve => this.child.once('exit', resolve))
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`listener exited early (code ${code})`)))
      // Consume every stdout line (connect/identify events are plentiful; an
      // unread pipe would block the child).
      createInterface({ input: this.child.stdout }).on('line', (line) => {
        let evt
        try { evt = JSON.parse(line) } catch { return }
        if (evt.event === 'listening') resolve(evt)
        else if (evt.event === 'stats') this.statsWaiters.shift()?.(evt)
      })
    })
  }

  /** Ask the child for a stats line (it runs a GC first: --expose-gc). */
  stats () {
    return new Promise((resolve) => {
      this.statsWaiters.push(resolve)
      this.child.stdin.write('stats\n')
    })
  }

  async close () {
    this.child.stdin.end() // peer.mjs exits when its stdin pipe closes
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------
// Benchmarks. `target` is a multiaddr string; `impl` the output label.

async function benchStream (target, impl, mib) {
  const node = await createNode()
  try {
    const signal = AbortSignal.timeout(BENCH_TIMEOUT_MS)
    const conn = await node.dial(multiaddr(target), { signal })
    const buf = pseudoRandomBytes(1 << 20, 0xb0b)
    await sinkSend(conn, 4 << 20, { buf, signal }) // warm-up (JIT, yamux window growth)
    const r = await sinkSend(conn, mib * (1 << 20), { buf, signal })
    if (r.acknowledged !== r.bytes) {
      throw new Error(`sink acknowledged ${r.acknowledged} of ${r.bytes} bytes`)
    }
    emit({
      bench: 'stream_throughput',
      impl,
      bytes: r.bytes,
      seconds: round3(r.seconds),
      mib_per_s: round3(r.bytes / (1 << 20) / r.seconds)
    })
  } finally {
    await stopNode(node)
  }
}

async function benchHandshakes (target, impl, seconds) {
  const node = await createNode()
  const tracker = new IdentifyTracker(node)
  const ma = multiaddr(target)
  try {
    // one untimed round first (JIT warm-up, peer store entry)
    const warm = await node.dial(ma)
    await tracker.wait(warm, IDENTIFY_TIMEOUT_MS)
    await node.hangUp(warm.remotePeer)

    let count = 0
    const start = process.hrtime.bigint()
    const deadline = Date.now() + seconds * 1000
    while (Date.now() < deadline) {
      const conn = await node.dial(ma, { signal: AbortSignal.timeout(IDENTIFY_TIMEOUT_MS) })
      await tracker.wait(conn, IDENTIFY_TIMEOUT_MS)
      await node.hangUp(conn.remotePeer)
      count++
    }
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9
    emit({ bench: 'handshakes', impl, count, seconds: round3(elapsed), per_s: round3(count / elapsed) })
  } finally {
    tracker.stop()
    await stopNode(node)
  }
}

/**
 * Open `n` connections from `n` distinct nodes, each waiting for identify.
 * Dials run 20 at a time.
 */
async function connectMany (nodes, target) {
  const ma = multiaddr(target)
  for (let i = 0; i < nodes.length; i += 20) {
    await Promise.all(nodes.slice(i, i + 20).map(async (node) => {
      const tracker = new IdentifyTracker(node)
      try {
        const conn = await node.dial(ma, { signal: AbortSignal.timeout(IDENTIFY_TIMEOUT_MS) })
        await tracker.wait(conn, IDENTIFY_TIMEOUT_MS)
      } finally {
        tracker.stop()
      }
    }))
  }
}

/**
 * `sample()` returns { rss, heap_used?, connections? } of the listener.
 */
async function benchMemory (target, impl, n, sample) {
  log(`idle_conn_memory: creating ${n + WARMUP_CONNECTIONS} dialer nodes`)
  const nodes = await Promise.all(Array.from({ length: n + WARMUP_CONNECTIONS }, () => createNode()))
  try {
    await connectMany(nodes.slice(0, WARMUP_CONNECTIONS), target)
    await sleep(1000)
    const before = await sample()
    const t0 = Date.now()
    await connectMany(nodes.slice(WARMUP_CONNECTIONS), target)
    log(`idle_conn_memory: ${n} connections in ${Date.now() - t0} ms, settling`)
    await sleep(2000) // let the listener finish its side of identify
    const after = await sample()
    if (after.connections != null && after.connections !== n + WARMUP_CONNECTIONS) {
      throw new Error(`listener reports ${after.connections} connections, expected ${n + WARMUP_CONNECTIONS}`)
    }
    const result = {
      bench: 'idle_conn_memory',
      impl,
      connections: n,
      bytes_per_conn: Math.round((after.rss - before.rss) / n),
      rss_before: before.rss,
      rss_after: after.rss
    }
    if (before.heap_used != null) {
      result.heap_bytes_per_conn = Math.round((after.heap_used - before.heap_used) / n)
    }
    emit(result)
  } finally {
    await Promise.all(nodes.map(node => stopNode(node)))
  }
}

// ---------------------------------------------------------------------------

async function withTimeout (name, promise) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} did not finish within ${BENCH_TIMEOUT_MS / 1000} s`)), BENCH_TIMEOUT_MS)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * --listen: run peer.mjs's listen mode in this very process (so `$!` / the
 * pid a test script holds is the listener itself, e.g. for --pid).
 */
async function runListenOnly (values) {
  const args = ['listen']
  for (const opt of ['port', 'host', 'seed']) {
    if (values[opt] != null) args.push(`--${opt}`, values[opt])
  }
  process.argv = [process.argv[0], PEER_SCRIPT, ...args]
  await import(PEER_SCRIPT) // peer.mjs parses process.argv when loaded
}

async function main () {
  let parsed
  try {
    parsed = parseCommandLine(process.argv.slice(2), OPTIONS)
  } catch (err) {
    usage(errorMessage(err))
  }
  const { values, positionals } = parsed
  if (values.help) usage()
  if (positionals.length > 0) usage(`unexpected argument "${positionals[0]}"`)
  if (values.listen) return runListenOnly(values)

  const benches = values.bench.split(',').map(s => s.trim()).filter(Boolean)
  const unknown = benches.filter(b => !BENCHES.includes(b))
  if (unknown.length > 0) usage(`unknown bench(es): ${unknown.join(', ')}`)
  const mib = toInt(values.mib, 'mib', { min: 1 })
  const seconds = toInt(values.seconds, 'seconds', { min: 1 })
  const connections = toInt(values.connections, 'connections', { min: 1 })
  const remote = values.dial != null
  const impl = values.impl ?? (remote ? 'remote' : 'js')
  if (remote) {
    try { multiaddr(values.dial) } catch (err) { usage(`invalid multiaddr: ${errorMessage(err)}`) }
  }
  const pid = values.pid != null ? toInt(values.pid, 'pid', { min: 1 }) : null

  let ok = true
  const run = async (name, fn) => {
    log(`running ${name}`)
    try {
      await withTimeout(name, fn())
    } catch (err) {
      ok = false
      log(`${name} failed: ${err.stack ?? errorMessage(err)}`)
      emit({ bench: name, impl, ok: false, error: errorMessage(err) })
    }
  }

  // Start a js listener child unless we measure a remote.
  let listener = null
  const startListener = async () => {
    listener = new ListenerChild()
    const evt = await listener.ready
    log('listener child:', evt.addrs[0])
    return evt.addrs[0]
  }
  const stopListener = async () => {
    await listener?.close()
    listener = null
  }

  if (benches.includes('stream') || benches.includes('handshakes')) {
    const target = remote ? values.dial : await startListener()
    if (benches.includes('stream')) await run('stream_throughput', () => benchStream(target, impl, mib))
    if (benches.includes('handshakes')) await run('handshakes', () => benchHandshakes(target, impl, seconds))
    await stopListener()
  }

  if (benches.includes('memory')) {
    if (remote && pid == null) {
      log('idle_conn_memory skipped: --dial needs --pid to read the remote RSS')
    } else if (remote) {
      await run('idle_conn_memory', () => benchMemory(values.dial, impl, connections,
        async () => ({ rss: rssOfPid(pid) })))
    } else {
      // a fresh listener, so earlier benchmarks do not skew its baseline
      const target = await startListener()
      await run('idle_conn_memory', () => benchMemory(target, impl, connections, async () => {
        const s = await listener.stats()
        return { rss: s.rss, heap_used: s.heap_used, connections: s.connections }
      }))
      await stopListener()
    }
  }

  process.exit(ok ? 0 : 1)
}

main().catch((err) => {
  log('fatal:', err.stack ?? errorMessage(err))
  process.exit(2)
})
