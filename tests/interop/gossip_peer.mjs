#!/usr/bin/env node
// bzzz gossipsub interop peer: N js-libp2p nodes with @libp2p/gossipsub in one process.
//
//   node gossip_peer.mjs mesh --nodes N --topic T --publish K --expect M --go FILE
//        [--stop FILE] [--timeout 60]
//
// Starts N listening nodes (StrictSign, flood publish, loopback whitelisted from the
// IP-colocation penalty) joined in a ring, all subscribed to T. stdout (JSON lines):
//   {"event":"listening","index":i,"addr":"/ip4/127.0.0.1/tcp/P/p2p/ID"}   per node
//   {"event":"ready"}        every node sees at least one other subscriber of T
// Then it waits for FILE to exist (the test creates it once every process is ready),
// each node publishes K messages "<peer id>/<k>", and every node waits until it has
// delivered M distinct messages. Then, per node:
//   {"event":"result","index":i,"delivered":n,"duplicates":d,"from_remote":r,
//    "mesh":[peer ids in the node's mesh for T]}
// and {"event":"done","ok":bool}; with --stop it then stays connected until FILE exists
// (so the other side's view of the mesh is not cut short by our leaving). ok needs every node to deliver exactly M distinct
// messages with no duplicate delivered to the application. Exit 0 when ok, 1 when not
// (or on --timeout), 2 on bad usage. Logs go to stderr.
//
//   node gossip_peer.mjs bench [--nodes 20] [--degree 4] [--messages 500] [--rate 200]
//        [--size 256]
// The js side of bench/pubsub.sh, as `bzzz-pubsub-probe bench` does it: N nodes each
// dialing --degree random earlier ones, all subscribed; messages published round robin
// at --rate per second carry their publish time; every delivery's latency is recorded:
//   {"bench":"gossip_latency","impl":"js","nodes":N,"p50_ms":..,"p99_ms":..,
//    "delivered":..,"expected":..,"duplicates":..}
import './polyfill.mjs'
import { existsSync } from 'node:fs'
import { gossipsub } from '@libp2p/gossipsub'
import { createNode, emit, errorMessage, log, multiaddr, parseCommandLine, toInt } from './lib.mjs'

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

function percentile (sorted, p) {
  if (sorted.length === 0) return 0
  return sorted[Math.floor(p * (sorted.length - 1))]
}

async function bench (rest) {
  const { values } = parseCommandLine(rest, {
    nodes: { type: 'string', default: '20' },
    degree: { type: 'string', default: '4' },
    messages: { type: 'string', default: '500' },
    rate: { type: 'string', default: '200' },
    size: { type: 'string', default: '256' }
  })
  const n = toInt(values.nodes, 'nodes', { min: 2 })
  const degree = toInt(values.degree, 'degree', { min: 1 })
  const messages = toInt(values.messages, 'messages', { min: 1 })
  const rate = toInt(values.rate, 'rate', { min: 1 })
  const size = Math.max(16, toInt(values.size, 'size', { min: 16 }))
  const topic = 'bench'
  const nodes = []
  const latencies = []
  let duplicates = 0
  for (let i = 0; i < n; i++) {
    const node = await createNode({
      port: 0,
      services: {
        pubsub: gossipsub({
          allowPublishToZeroTopicPeers: true,
          scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1']) }
        })
      }
    })
    const got = new Set()
    node.services.pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail
      if (msg.topic !== topic || msg.data.byteLength < 16) return
      const view = new DataView(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength)
      const seq = view.getFloat64(0, true)
      const sent = view.getFloat64(8, true)
      if (got.has(seq)) { duplicates++; return }
      got.add(seq)
      latencies.push(performance.now() - sent)
    })
    node.services.pubsub.subscribe(topic)
    nodes.push(node)
  }
  let seed = 42
  const rand = () => { seed = (seed * 16807) % 2147483647; return seed } // Park-Miller: exact in doubles
  for (let i = 1; i < n; i++) {
    const peers = new Set()
    while (peers.size < Math.min(degree, i)) peers.add(rand() % i)
    for (const p of peers) await nodes[i].dial(multiaddr(nodes[p].getMultiaddrs()[0].toString()))
  }
  while (!nodes.every(node => node.services.pubsub.getSubscribers(topic).length > 0)) await sleep(50)
  await sleep(3000) // meshes settle over a few heartbeats
  const interval = 1000 / rate
  const start = performance.now()
  for (let s = 0; s < messages; s++) {
    const data = new Uint8Array(size)
    const view = new DataView(data.buffer)
    view.setFloat64(0, s, true)
    view.setFloat64(8, performance.now(), true)
    await nodes[s % n].services.pubsub.publish(topic, data)
    const wait = start + (s + 1) * interval - performance.now()
    if (wait > 0) await sleep(wait)
  }
  const expected = messages * (n - 1)
  const end = performance.now() + 10000
  while (latencies.length < expected && performance.now() < end) await sleep(20)
  latencies.sort((a, b) => a - b)
  emit({ bench: 'gossip_latency', impl: 'js', nodes: n, p50_ms: percentile(latencies, 0.5), p99_ms: percentile(latencies, 0.99), delivered: latencies.length, expected, duplicates })
  await Promise.all(nodes.map(node => node.stop()))
  process.exit(latencies.length === expected ? 0 : 1)
}

async function main () {
  const [mode, ...rest] = process.argv.slice(2)
  if (mode === 'bench') return bench(rest)
  if (mode !== 'mesh') {
    log('usage: gossip_peer.mjs mesh --nodes N --topic T --publish K --expect M --go FILE')
    process.exit(2)
  }
  const { values } = parseCommandLine(rest, {
    nodes: { type: 'string', default: '1' },
    topic: { type: 'string', default: 'interop-test' },
    publish: { type: 'string', default: '5' },
    expect: { type: 'string', default: '0' },
    go: { type: 'string' },
    stop: { type: 'string' },
    timeout: { type: 'string', default: '60' }
  })
  const n = toInt(values.nodes, 'nodes', { min: 1 })
  const k = toInt(values.publish, 'publish')
  const expect = toInt(values.expect, 'expect')
  const timeout = toInt(values.timeout, 'timeout', { min: 1 })
  if (values.go == null) throw new Error('--go FILE is required')
  const topic = values.topic
  setTimeout(() => {
    log(`timed out after ${timeout} s`)
    emit({ event: 'done', ok: false, error: 'timeout' })
    process.exit(1)
  }, timeout * 1000).unref()

  const nodes = []
  const seen = []
  for (let i = 0; i < n; i++) {
    const delivered = new Map()
    const stats = { delivered, duplicates: 0, fromRemote: 0 }
    seen.push(stats)
    const node = await createNode({
      port: 0,
      services: {
        pubsub: gossipsub({
          allowPublishToZeroTopicPeers: true,
          emitSelf: true,
          scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1']) }
        })
      }
    })
    node.services.pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail
      if (msg.topic !== topic) return
      const text = new TextDecoder().decode(msg.data)
      const count = (delivered.get(text) ?? 0) + 1
      delivered.set(text, count)
      if (count > 1) stats.duplicates++
      if (!msg.from.equals(node.peerId)) stats.fromRemote++
    })
    node.services.pubsub.subscribe(topic)
    nodes.push(node)
    emit({ event: 'listening', index: i, addr: node.getMultiaddrs()[0].toString() })
  }
  for (let i = 0; n > 1 && i < n; i++) {
    const next = nodes[(i + 1) % n]
    await nodes[i].dial(multiaddr(next.getMultiaddrs()[0].toString()))
  }
  while (!nodes.every(node => node.services.pubsub.getSubscribers(topic).length > 0)) await sleep(50)
  emit({ event: 'ready' })
  while (!existsSync(values.go)) await sleep(50)

  for (let j = 0; j < k; j++) {
    for (const node of nodes) {
      await node.services.pubsub.publish(topic, new TextEncoder().encode(`${node.peerId.toString()}/${j}`))
    }
  }
  while (!seen.every(s => s.delivered.size >= expect)) await sleep(50)
  await sleep(500) // a duplicate would show up now
  let ok = true
  nodes.forEach((node, i) => {
    const s = seen[i]
    const mesh = node.services.pubsub.getMeshPeers(topic).map(p => p.toString())
    emit({ event: 'result', index: i, delivered: s.delivered.size, duplicates: s.duplicates, from_remote: s.fromRemote, mesh })
    if (s.delivered.size !== expect || s.duplicates !== 0) ok = false
  })
  emit({ event: 'done', ok })
  while (values.stop != null && !existsSync(values.stop)) await sleep(50)
  await Promise.all(nodes.map(node => node.stop()))
  process.exit(ok ? 0 : 1)
}

main().catch((err) => {
  log(errorMessage(err))
  emit({ event: 'done', ok: false, error: errorMessage(err) })
  process.exit(2)
})
