#!/usr/bin/env bash
# Gossipsub between bzzz and js-libp2p (@libp2p/gossipsub, pinned in package.json), on
# loopback. js nodes run in tests/interop/gossip_peer.mjs, C++ nodes in
# bzzz-pubsub-probe (tests/tools/pubsub_probe.cc); both speak the same `mesh` contract.
#
#   pair    one js node and one C++ node (the C++ one dials): each publishes 5 signed
#           messages on a shared topic; each delivers all 10 exactly once (5 from the
#           other side), and each has the other in its mesh (GRAFTs accepted both ways).
#   mesh    4 js nodes in a ring and 4 C++ nodes in a ring, C++ node i dialing js node i:
#           each of the 8 publishes 5; every node delivers all 40 exactly once, and every
#           node's mesh holds a peer of the other implementation.
#
# Both processes wait for a "go" file before publishing (created once both are ready)
# and for a "stop" file before leaving (so neither sees the other's mesh cut short).
# Skips (exit 77) without node >= 20.19 or tests/interop/node_modules (make setup).
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # need_js, track

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
T0=$SECONDS
need_js "the gossip interop test"
need_cmd jq
PROBE="${BZZZ_PUBSUB_PROBE:-$(dirname "$BZZZ_BIN")/bzzz-pubsub-probe}"
[[ -x "$PROBE" ]] || fail "bzzz-pubsub-probe not found at $PROBE (build it or set BZZZ_PUBSUB_PROBE)"


# wait_line FILE JQ_FILTER COUNT LIMIT WHAT: until FILE has COUNT lines matching.
wait_line() {
  local file="$1" filter="$2" count="$3" limit="$4" what="$5" start=$SECONDS
  while ((SECONDS - start < limit)); do
    (($(jq -c "select($filter)" "$file" 2>/dev/null | wc -l) >= count)) && return 0
    sleep 0.1
  done
  fail "$what: no '$filter' x$count in $limit s; stdout: $(head -c 2000 "$file"); stderr: $(tail -c 2000 "${file%.out}.err")"
}

# run_case NAME N K: N js + N C++ nodes, K messages each.
run_case() {
  local name="$1" n="$2" k="$3" dir="$TMP/$1"
  local expect=$((2 * n * k)) go="$dir/go" stop="$dir/stop"
  mkdir -p "$dir"
  node "$HERE/gossip_peer.mjs" mesh --nodes "$n" --publish "$k" --expect "$expect" --go "$go" --stop "$stop" \
    --topic "interop-$name" --timeout 60 >"$dir/js.out" 2>"$dir/js.err" </dev/null &
  local js_pid=$!
  track "$js_pid"
  wait_line "$dir/js.out" '.event == "listening"' "$n" 30 "$name: js nodes"
  local addrs
  addrs="$(jq -r 'select(.event == "listening") | .addr' "$dir/js.out" | paste -sd, -)"
  "$PROBE" mesh --nodes "$n" --publish "$k" --expect "$expect" --go "$go" --stop "$stop" --connect "$addrs" \
    --topic "interop-$name" --timeout 60 >"$dir/cpp.out" 2>"$dir/cpp.err" </dev/null &
  local cpp_pid=$!
  track "$cpp_pid"
  wait_line "$dir/js.out" '.event == "ready"' 1 30 "$name: js ready"
  wait_line "$dir/cpp.out" '.event == "ready"' 1 30 "$name: C++ ready"
  touch "$go"
  wait_line "$dir/js.out" '.event == "done"' 1 60 "$name: js done"
  wait_line "$dir/cpp.out" '.event == "done"' 1 60 "$name: C++ done"
  touch "$stop"
  local rc_js=0 rc_cpp=0
  wait "$js_pid" || rc_js=$?
  wait "$cpp_pid" || rc_cpp=$?

  local js_ids cpp_ids side out other
  js_ids="$(jq -c '[select(.event == "listening") | .addr | split("/p2p/")[1]]' "$dir/js.out" | jq -sc add)"
  cpp_ids="$(jq -c '[select(.event == "listening") | .addr | split("/p2p/")[1]]' "$dir/cpp.out" | jq -sc add)"
  for side in js cpp; do
    out="$dir/$side.out"
    [[ "$(jq -r 'select(.event == "done") | .ok' "$out")" == true ]] ||
      fail "$name: $side side not ok: $(cat "$out")"
    (($(jq -c 'select(.event == "result" and .delivered == '"$expect"' and .duplicates == 0 and .from_remote == '"$((expect - k))"')' "$out" | wc -l) == n)) ||
      fail "$name: $side side: not every node delivered $expect messages exactly once: $(jq -c 'select(.event == "result")' "$out")"
    if [[ $side == js ]]; then other="$cpp_ids"; else other="$js_ids"; fi
    # Every node was dialed by, or dialed, a node of the other side: each mesh crosses over.
    (($(jq -c --argjson o "$other" 'select(.event == "result") | select((.mesh - (.mesh - $o)) | length >= 1)' "$out" | wc -l) == n)) ||
      fail "$name: not every $side node has a peer of the other side in its mesh: $(jq -c 'select(.event == "result") | .mesh' "$out")"
  done
  ((rc_js == 0 && rc_cpp == 0)) || fail "$name: exit codes js=$rc_js C++=$rc_cpp"
  log "  $name: $n js + $n C++ nodes, $expect messages delivered exactly once on every node; meshes cross over"
}

section "one js node and one C++ node" run_case pair 1 5
section "4 js nodes and 4 C++ nodes" run_case mesh 4 5
log "gossip interop took $((SECONDS - T0)) s"
finish_tests gossip_interop
