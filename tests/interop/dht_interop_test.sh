#!/usr/bin/env bash
# bzzz's Kademlia DHT (src/p2p/dht) against js-libp2p's (@libp2p/kad-dht 16.4.5 in
# tests/interop/dht_peer.mjs), both ways, on loopback. The node does not run the DHT
# yet, so the C++ side is bzzz-dht-probe (tests/tools/dht_probe.cc). Every check looks
# at the remote's own answer (js: its PEER_RESPONSE events from the bzzz node; C++: a
# second node with an empty store whose only peers are the js nodes).
#
#   js dials bzzz   `dht_peer.mjs dial` against `bzzz-dht-probe listen` (a main node and
#                   a helper): FIND_NODE (the bzzz node names its helper), GET_VALUE (its
#                   signed /bzzz/ record, checked by js's validator), PUT_VALUE (of a
#                   js-signed record: echoed, then served back by bzzz), ADD_PROVIDER /
#                   GET_PROVIDERS (bzzz lists itself, then the js node after js provided);
#                   the probe's counters then show it served each request type and
#                   rejected nothing. Run on /bzzz/kad/1.0.0 and on /ipfs/kad/1.0.0.
#   bzzz dials js   `bzzz-dht-probe dial` against `dht_peer.mjs listen`: FIND_NODE (the
#                   js helper's addresses, learned from js), PUT_VALUE / GET_VALUE both
#                   ways (a C++-signed record stored by js, js's own record checked by
#                   our validator), ADD_PROVIDER / GET_PROVIDERS both ways.
#
# Skips (exit 77) without node >= 20.19 or without tests/interop/node_modules (both come
# with `make setup`). Environment: BZZZ_BIN, BZZZ_SOURCE_DIR and BZZZ_DHT_PROBE (default:
# bzzz-dht-probe next to BZZZ_BIN).
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # need_js, track, bg_run

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEER="$HERE/dht_peer.mjs"
T0=$SECONDS

need_js "the DHT interop test" @libp2p/kad-dht
need_cmd jq

PROBE="${BZZZ_DHT_PROBE:-$(dirname "$BZZZ_BIN")/bzzz-dht-probe}"
[[ -x "$PROBE" ]] || fail "bzzz-dht-probe not found at $PROBE (build the bzzz-dht-probe target or set BZZZ_DHT_PROBE)"


# wait_line FILE PATTERN PID WHAT: until FILE has a line matching PATTERN (30 s).
wait_line() {
  local file="$1" pattern="$2" pid="$3" what="$4" start=$SECONDS
  until grep -qs "$pattern" "$file"; do
    alive "$pid" || fail "$what exited: $(tail -n 20 "${file%.out}.err" 2>/dev/null)"
    ((SECONDS - start < 30)) || fail "$what printed no '$pattern' line in 30 s: $(tail -n 20 "${file%.out}.err" 2>/dev/null)"
    sleep 0.1
  done
}

# expect_checks NAME FILE CHECKS: FILE holds one JSON line per check; each of CHECKS
# (comma-separated) reported and ok.
expect_checks() {
  local name="$1" file="$2" checks="$3" c line
  for c in ${checks//,/ }; do
    line="$(jq -c --arg c "$c" 'select(.check == $c)' "$file" 2>/dev/null | head -n 1)"
    [[ -n "$line" ]] || fail "$name: no result line for check '$c'; output: $(head -c 3000 "$file")"
    [[ "$(jq -r .ok <<<"$line")" == true ]] || fail "$name: check '$c' failed: $line"
    log "  $name $c: $(jq -c 'del(.check, .ok)' <<<"$line")"
  done
}

# --- js dials bzzz ---------------------------------------------------------------------------
js_dials_bzzz() {
  local protocol="$1" dir="$TMP/js-dials-${1//\//_}" line addr helper t stats
  mkdir -p "$dir"
  # The probe reads commands from a FIFO held open on fd 3 ("stats" prints a line).
  mkfifo "$dir/probe.in"
  exec 3<>"$dir/probe.in"
  "$PROBE" listen --protocol "$protocol" <"$dir/probe.in" >"$dir/probe.out" 2>"$dir/probe.err" 3>&- &
  local probe_pid=$!
  track "$probe_pid"
  wait_line "$dir/probe.out" '"event":"listening"' "$probe_pid" "bzzz-dht-probe listen"
  line="$(grep -m1 '"event":"listening"' "$dir/probe.out")"
  addr="$(jq -r '.addrs[0]' <<<"$line")"
  helper="$(jq -r .helper <<<"$line")"
  log "  bzzz node $addr (helper $helper), $protocol"

  t=$SECONDS
  bg_run "$dir/js.out" "$dir/js.err" 120 node "$PEER" dial "$addr" --helper "$helper" --protocol "$protocol" --timeout 60
  log "  dht_peer.mjs dial exited $BG_RC after $((SECONDS - t)) s"
  [[ "$BG_RC" == 0 ]] ||
    fail "dht_peer.mjs dial exited $BG_RC: $(cat "$dir/js.out") -- js stderr: $(tail -n 15 "$dir/js.err") -- probe stderr: $(tail -n 15 "$dir/probe.err")"
  expect_checks "js->bzzz" "$dir/js.out" find_node,get_value,put_value,providers

  echo stats >&3
  wait_line "$dir/probe.out" '"event":"stats"' "$probe_pid" "bzzz-dht-probe listen"
  stats="$(grep -m1 '"event":"stats"' "$dir/probe.out")"
  log "  bzzz node served: $(jq -c '{requests_in, errors, records, providers}' <<<"$stats")"
  jq -e '.requests_in | (.FIND_NODE // 0) > 0 and (.GET_VALUE // 0) > 0 and (.PUT_VALUE // 0) > 0 and
         (.ADD_PROVIDER // 0) > 0 and (.GET_PROVIDERS // 0) > 0' <<<"$stats" >/dev/null ||
    fail "the bzzz node did not serve every request type: $stats"
  jq -e '.errors | length == 0' <<<"$stats" >/dev/null || fail "the bzzz node rejected requests: $stats"
  # Its record, js's record; its provider entry, js's.
  jq -e '.records >= 2 and .providers >= 2' <<<"$stats" >/dev/null || fail "the bzzz node did not store js's record and provider entry: $stats"
  echo quit >&3
  exec 3>&-
}

# --- bzzz dials js ---------------------------------------------------------------------------
bzzz_dials_js() {
  local protocol="$1" dir="$TMP/bzzz-dials-${1//\//_}" line addr helper t
  mkdir -p "$dir"
  node "$PEER" listen --protocol "$protocol" </dev/null >"$dir/js.out" 2>"$dir/js.err" &
  local js_pid=$!
  track "$js_pid"
  wait_line "$dir/js.out" '"event":"listening"' "$js_pid" "dht_peer.mjs listen"
  line="$(grep -m1 '"event":"listening"' "$dir/js.out")"
  addr="$(jq -r '.addrs[0]' <<<"$line")"
  helper="$(jq -r .helper <<<"$line")"
  log "  js node $addr (helper $helper), $protocol"

  t=$SECONDS
  bg_run "$dir/probe.out" "$dir/probe.err" 120 "$PROBE" dial "$addr" --helper "$helper" --protocol "$protocol" --timeout 60
  log "  bzzz-dht-probe dial exited $BG_RC after $((SECONDS - t)) s"
  [[ "$BG_RC" == 0 ]] ||
    fail "bzzz-dht-probe dial exited $BG_RC: $(cat "$dir/probe.out") -- stderr: $(tail -n 15 "$dir/probe.err") -- js stderr: $(tail -n 15 "$dir/js.err")"
  expect_checks "bzzz->js" "$dir/probe.out" find_node,put_get,providers
}

section "js dials bzzz (/bzzz/kad/1.0.0)" js_dials_bzzz /bzzz/kad/1.0.0
section "bzzz dials js (/bzzz/kad/1.0.0)" bzzz_dials_js /bzzz/kad/1.0.0
section "js dials bzzz (/ipfs/kad/1.0.0)" js_dials_bzzz /ipfs/kad/1.0.0
log "took $((SECONDS - T0)) s"
finish_tests dht-interop
