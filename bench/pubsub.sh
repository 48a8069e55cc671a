#!/usr/bin/env bash
# Gossipsub benchmarks, in one run, on loopback (every mesh in one process):
#   delivery latency      publish to delivery on every other node (one clock), p50 and
#                         p99: C++ with 50 nodes; C++ and js-libp2p (@libp2p/gossipsub)
#                         with the js mesh's size (PUBSUB_BENCH_JS_NODES, 10: what one
#                         Node.js process holds here) at the same rate, as the ratio
#   throughput            messages per second through one C++ node: in a line of three,
#                         the middle one verifies and forwards 20,000 messages of 256 bytes
# Each node dials PUBSUB_BENCH_DEGREE (4) random earlier ones; messages go out round
# robin at PUBSUB_BENCH_RATE (20) per second, PUBSUB_BENCH_MESSAGES (400) of them.
# C++: bzzz-pubsub-probe bench; js: tests/interop/gossip_peer.mjs bench.
# Usage: bench/pubsub.sh [BUILD_DIR]. Without Node >= 20.19 and tests/interop/node_modules
# (make setup) it prints the C++ figures only.
set -euo pipefail
BUILD=${1:-build}
PROBE=$BUILD/bzzz-pubsub-probe
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JS_NODES=${PUBSUB_BENCH_JS_NODES:-10}
DEGREE=${PUBSUB_BENCH_DEGREE:-4}
RATE=${PUBSUB_BENCH_RATE:-20}
MESSAGES=${PUBSUB_BENCH_MESSAGES:-400}

die() { echo "bench: $*" >&2; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # js_why
[[ -x $PROBE ]] || die "$PROBE missing (build the bzzz-pubsub-probe target)"
command -v jq >/dev/null || die "jq missing (make setup)"
JS_WHY=$(js_why "$ROOT")  # empty when the js side can run

cpp() { "$PROBE" bench --degree "$DEGREE" --rate "$RATE" --messages "$MESSAGES" "$@"; }
field() { jq -r "select(.bench == \"$1\") | .$2" <<<"$3"; }

echo "== gossipsub: C++ 50 nodes"
C50=$(cpp --nodes 50)
printf '  latency p50 %.2f ms  p99 %.2f ms  (%s of %s delivered, %s duplicates)\n' \
  "$(field gossip_latency p50_ms "$C50")" "$(field gossip_latency p99_ms "$C50")" \
  "$(field gossip_latency delivered "$C50")" "$(field gossip_latency expected "$C50")" \
  "$(field gossip_latency duplicates "$C50")"
printf '  throughput through one node: %.0f msgs/s (%s of %s delivered)\n' \
  "$(field gossip_throughput msgs_per_s "$C50")" "$(field gossip_throughput delivered "$C50")" \
  "$(field gossip_throughput messages "$C50")"

if [[ -n $JS_WHY ]]; then
  echo "== js comparison skipped: $JS_WHY"
  exit 0
fi
echo "== gossipsub: $JS_NODES nodes, C++ vs js-libp2p, same rate"
CN=$(cpp --nodes "$JS_NODES")
JN=$(node "$ROOT/tests/interop/gossip_peer.mjs" bench --nodes "$JS_NODES" --degree "$DEGREE" --rate "$RATE" \
  --messages "$MESSAGES" 2>/dev/null) || die "the js bench failed: $JN"
for impl in C++:CN js:JN; do
  name=${impl%%:*} var=${impl##*:}
  printf '  %-4s latency p50 %.2f ms  p99 %.2f ms  (%s of %s delivered)\n' "$name" \
    "$(field gossip_latency p50_ms "${!var}")" "$(field gossip_latency p99_ms "${!var}")" \
    "$(field gossip_latency delivered "${!var}")" "$(field gossip_latency expected "${!var}")"
done
printf '  ratio js/C++: p50 %.1fx  p99 %.1fx\n' \
  "$(jq -n "$(field gossip_latency p50_ms "$JN") / $(field gossip_latency p50_ms "$CN")")" \
  "$(jq -n "$(field gossip_latency p99_ms "$JN") / $(field gossip_latency p99_ms "$CN")")"
