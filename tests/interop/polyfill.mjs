// Promise.withResolvers() arrived in Node 22 (V8 12.x). libp2p 3, yamux 8,
// ping 3, @libp2p/utils, it-queue and abort-error call it at run time, so on
// Node 20 the first dial fails with "Promise.withResolvers is not a function".
// This module must be imported before any libp2p module is used; lib.mjs
// imports it first.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
