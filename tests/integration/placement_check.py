#!/usr/bin/env python3
"""Puts and placement checks for the replication scripts, computed independently of the
node: a blob's responsible nodes are the `factor` live nodes whose sha256(peer id bytes)
is closest by XOR to sha256(0x1e 0x20 + the blob's BLAKE3 digest).

  placement_check.py put N SIZE API...        put N random blobs of SIZE bytes, pinned,
                                              round-robin over the APIs (a thread and a
                                              keep-alive connection each); prints one
                                              hash per line
  placement_check.py check FACTOR HASHES API...
                                              every hash is pinned on exactly its
                                              responsible nodes among the APIs' nodes,
                                              and nowhere else; exit 1 naming the first
                                              misplaced ones
  placement_check.py providers FACTOR HASHES EVERY API...
                                              every EVERY-th hash is looked up in the DHT
                                              (GET /v1/dht/providers/HASH?limit=0) from
                                              the APIs in turn, and must list its
                                              responsible nodes (retried for up to 120 s)
  placement_check.py expected FACTOR HASH API...
                                              the responsible nodes' API indexes
"""
import hashlib
import http.client
import json
import os
import sys
import threading

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text):
    n = 0
    for ch in text:
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\x00" * pad + raw


def place(data):
    return int.from_bytes(hashlib.sha256(data).digest(), "big")


def responsible(hash_hex, peer_ids, factor):
    target = place(bytes([0x1E, 0x20]) + bytes.fromhex(hash_hex))
    ranked = sorted(peer_ids, key=lambda p: place(b58decode(p)) ^ target)
    return ranked[:factor]


def conn(api):
    host, port = api.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=120)


def get_json(c, path):
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"GET {path}: {r.status} {body[:200]!r}")
    return json.loads(body)


def node_ids(apis):
    return [get_json(conn(a), "/v1/peers")["id"] for a in apis]


def pinned(api):
    return {p["hash"] for p in get_json(conn(api), "/v1/pins")["pins"] if p["pins"] > 0}


def cmd_put(n, size, apis):
    """Blob i goes to API i % len(apis); one thread (and keep-alive connection) per API."""
    hashes = [None] * n
    errors = []

    def worker(k):
        c = conn(apis[k])
        for i in range(k, n, len(apis)):
            c.request("POST", "/v1/blobs?pin=1", body=os.urandom(size),
                      headers={"Content-Type": "application/octet-stream"})
            r = c.getresponse()
            body = r.read()
            if r.status != 201:
                errors.append(f"put {i} on {apis[k]}: {r.status} {body[:200]!r}")
                return
            hashes[i] = json.loads(body)["hash"]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(apis))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("\n".join(errors))
    for h in hashes:
        print(h)


def cmd_check(factor, hashes_file, apis):
    ids = node_ids(apis)
    held = {ids[i]: pinned(a) for i, a in enumerate(apis)}
    hashes = [h.strip() for h in open(hashes_file) if h.strip()]
    bad = []
    for h in hashes:
        want = set(responsible(h, ids, factor))
        have = {p for p in ids if h in held[p]}
        if want != have:
            bad.append(f"{h}: on {sorted(ids.index(p) for p in have)}, "
                       f"responsible {sorted(ids.index(p) for p in want)}")
    if bad:
        print(f"{len(bad)} of {len(hashes)} blobs misplaced, e.g.:", *bad[:5], sep="\n  ")
        return 1
    counts = [len(held[p]) for p in ids]
    print(f"all {len(hashes)} blobs on exactly their {factor} responsible nodes (replicas per node: {counts})")
    return 0


def cmd_providers(factor, hashes_file, every, apis):
    import time
    ids = node_ids(apis)
    conns = [conn(a) for a in apis]
    hashes = [h.strip() for h in open(hashes_file) if h.strip()][::every]
    deadline = time.time() + 120
    for k, h in enumerate(hashes):
        want = set(responsible(h, ids, factor))
        node = k % len(apis)
        while True:
            got = {p["id"] for p in get_json(conns[node], f"/v1/dht/providers/{h}?limit=0")["providers"]}
            if want <= got:
                break
            if time.time() > deadline:
                print(f"node {node} finds {len(want & got)} of the {factor} holders of {h} "
                      f"(providers: {sorted(ids.index(p) if p in ids else p for p in got)})")
                return 1
            time.sleep(0.2)
    print(f"{len(hashes)} provider lookups from {len(apis)} nodes found every holder")
    return 0


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    what = sys.argv[1]
    if what == "put":
        cmd_put(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
        return 0
    if what == "check":
        return cmd_check(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    if what == "providers":
        return cmd_providers(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    if what == "expected":
        ids = node_ids(sys.argv[4:])
        print(" ".join(str(ids.index(p)) for p in responsible(sys.argv[3], ids, int(sys.argv[2]))))
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
