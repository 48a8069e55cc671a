#!/usr/bin/env bash
# bzzz's libp2p stack against js-libp2p (tests/interop/peer.mjs, pinned in package.json),
# both ways, on loopback. One bzzz node (p2p.diagnostics on: it serves /bzzz/echo and
# /bzzz/sink) serves both sections.
#
#   js dials bzzz       `peer.mjs dial` runs identify, ping, echo (64 concurrent streams
#                       of 1 MiB) and 100 disconnect/connect cycles against the node: all
#                       ok; the node's /v1/peers lists the js peer identified (its
#                       protocols, /bzzz/echo/1.0.0 among them, and its agent); afterwards
#                       the node has 0 connections and its open fds (/proc/PID/fd) are back
#                       to the count before, within FD_MARGIN.
#   bzzz dials js       the node dials `peer.mjs listen` through the API (POST
#                       /v1/peers/connect, then /v1/peers/ping with count 3), /v1/peers
#                       shows the js protocols and agent and js saw the node's identify;
#                       then bzzz-p2p-probe (a C++ host, tests/tools/p2p_probe.cc) runs the
#                       same four checks against the js listener: all ok; afterwards js
#                       reports 0 connections, 0 streams and its fds back to the baseline.
#
# Skips (exit 77) without node >= 20.19 or without tests/interop/node_modules (both come
# with `make setup`, i.e. scripts/setup.sh). Environment: BZZZ_BIN, BZZZ_SOURCE_DIR and
# BZZZ_P2P_PROBE (default: bzzz-p2p-probe next to BZZZ_BIN); INTEROP_STREAMS (64),
# INTEROP_SIZE (1048576), INTEROP_CYCLES (100) scale the checks.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # need_js, track, bg_run

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEER="$HERE/peer.mjs"
STREAMS="${INTEROP_STREAMS:-64}"
SIZE="${INTEROP_SIZE:-1048576}"
CYCLES="${INTEROP_CYCLES:-100}"
FD_MARGIN=3     # fds a process may legitimately hold more after the checks than before
JS_FD_MARGIN=3
CHECKS=identify,ping,echo,cycles
T0=$SECONDS

need_js "the interop test"
need_cmd curl jq python3

PROBE="${BZZZ_P2P_PROBE:-$(dirname "$BZZZ_BIN")/bzzz-p2p-probe}"
[[ -x "$PROBE" ]] || fail "bzzz-p2p-probe not found at $PROBE (build the bzzz-p2p-probe target or set BZZZ_P2P_PROBE)"

# The caller's node settings must not leak in (lib.sh's BZZZ_P2P_LISTEN included: the
# node gets an explicit --set p2p.listen). lib.sh's BZZZ_MDNS_ENABLED=false stays: the
# node must not dial whatever else runs on this machine or LAN.
while read -r _v; do
  case "$_v" in BZZZ_BIN | BZZZ_SOURCE_DIR | BZZZ_P2P_PROBE | BZZZ_MDNS_ENABLED) ;; *) unset "$_v" ;; esac
done < <(compgen -e | grep '^BZZZ_' || true)

fds_of() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# --- the bzzz node ---------------------------------------------------------------------------
NODE_LOG="$TMP/node.log"
node_tail() {
  printf '\n---- node log (last 30 lines) ----\n'
  tail -n 30 "$NODE_LOG" 2>/dev/null || true
  printf -- '---- end of node log ----'
}

start_node() {
  local attempt start
  for attempt in 1 2 3; do
    P2P_PORT="$(free_port)"
    API_PORT="$(free_port)"
    [[ "$P2P_PORT" != "$API_PORT" ]] || continue
    URL="http://127.0.0.1:$API_PORT"
    BZZZ_API_LISTEN="127.0.0.1:$API_PORT" BZZZ_LOG_FORMAT=text \
      "$BZZZ_BIN" --data "$DATA" node --set p2p.diagnostics=true \
      --set "p2p.listen=/ip4/127.0.0.1/tcp/$P2P_PORT" >"$NODE_LOG" 2>&1 &
    NODE_PID=$!
    track "$NODE_PID"
    start=$SECONDS
    while ((SECONDS - start < 20)) && alive "$NODE_PID"; do
      curl -fsS --max-time 2 -o /dev/null "$URL/v1/peers" 2>/dev/null && return 0
      sleep 0.1
    done
    if ! alive "$NODE_PID" && grep -qsi "bind\|in use" "$NODE_LOG"; then
      log "  (a port was taken; trying others)"
      continue
    fi
    fail "the node did not answer GET /v1/peers within 20 s $(node_tail)"
  done
  fail "the node could not bind free ports in 3 attempts $(node_tail)"
}

peers() { curl -fsS --max-time 10 "$URL/v1/peers" || fail "GET /v1/peers failed $(node_tail)"; }

# api METHOD PATH [BODY]: sets API_CODE (the HTTP status) and API_BODY.
api() {
  local body_file="$TMP/.api.body" args=()
  [[ -z "${3:-}" ]] || args=(-H 'Content-Type: application/json' --data "$3")
  rm -f "$body_file"
  API_CODE="$(curl -sS --max-time 30 -o "$body_file" -w '%{http_code}' -X "$1" "${args[@]}" "$URL$2" 2>/dev/null || true)"
  API_BODY="$(cat "$body_file" 2>/dev/null || true)"
}

# expect_checks NAME FILE: FILE holds one JSON line per check (peer.mjs / probe format):
# every one of $CHECKS reported, each ok.
expect_checks() {
  local name="$1" file="$2" c line
  for c in ${CHECKS//,/ }; do
    line="$(jq -c --arg c "$c" 'select(.check == $c)' "$file" 2>/dev/null | head -n 1)"
    [[ -n "$line" ]] || fail "$name: no result line for check '$c'; output: $(head -c 3000 "$file")"
    [[ "$(jq -r .ok <<<"$line")" == true ]] || fail "$name: check '$c' failed: $line"
    log "  $name $c: $(jq -c 'del(.check, .ok, .protocols, .listen, .observed, .peer, .protocol_version, .samples)' <<<"$line")"
  done
}

# has_protocols JSON_ARRAY: the four protocols the diagnostics-enabled peers serve.
has_protocols() {
  jq -e 'index("/bzzz/echo/1.0.0") and index("/bzzz/sink/1.0.0") and index("/ipfs/id/1.0.0") and index("/ipfs/ping/1.0.0")' \
    <<<"$1" >/dev/null
}

start_node
NODE_ID="$(peers | jq -r .id)"
NODE_ADDR="/ip4/127.0.0.1/tcp/$P2P_PORT/p2p/$NODE_ID"
log "bzzz node $NODE_ADDR (pid $NODE_PID, API $URL), node $(node --version)"

# --- js dials bzzz ---------------------------------------------------------------------------
js_dials_bzzz() {
  sleep 1 # let the node's startup settle before the fd baseline
  local fds_before js_id rec i fds_after
  fds_before="$(fds_of "$NODE_PID")"
  local t=$SECONDS
  bg_run "$TMP/jsdial.out" "$TMP/jsdial.err" 150 node "$PEER" dial "$NODE_ADDR" --checks "$CHECKS" \
    --streams "$STREAMS" --size "$SIZE" --cycles "$CYCLES" --timeout 120
  log "  peer.mjs dial exited $BG_RC after $((SECONDS - t)) s"
  [[ "$BG_RC" == 0 ]] ||
    fail "peer.mjs dial exited $BG_RC: $(cat "$TMP/jsdial.out") -- stderr tail: $(tail -n 15 "$TMP/jsdial.err") $(node_tail)"
  expect_checks "js->bzzz" "$TMP/jsdial.out"
  jq -s -e --arg id "$NODE_ID" 'map(select(.check == "identify"))[0] | .peer == $id and (.agent | startswith("bzzz/"))' \
    "$TMP/jsdial.out" >/dev/null || fail "js identified someone other than the node: $(head -n 1 "$TMP/jsdial.out")"

  js_id="$(sed -n 's/.*dialer peer id \([1-9A-HJ-NP-Za-km-z]*\).*/\1/p' "$TMP/jsdial.err" | head -n 1)"
  [[ -n "$js_id" ]] || fail "no 'dialer peer id' line in peer.mjs's stderr"
  rec="$(peers | jq -c --arg id "$js_id" '.peers[] | select(.id == $id)')"
  [[ -n "$rec" ]] || fail "/v1/peers does not list the js peer $js_id: $(peers)"
  has_protocols "$(jq -c .protocols <<<"$rec")" || fail "/v1/peers: the js peer's protocols are incomplete: $rec"
  [[ "$(jq -r .agent_version <<<"$rec")" == bzzz-interop-js/* ]] || fail "/v1/peers: the js peer's agent is wrong: $rec"
  log "  /v1/peers: js peer $js_id, agent '$(jq -r .agent_version <<<"$rec")', protocols $(jq -c .protocols <<<"$rec")"

  for ((i = 0; i < 50; i++)); do
    [[ "$(peers | jq -r .connections)" == 0 ]] && break
    sleep 0.1
  done
  [[ "$(peers | jq -r .connections)" == 0 ]] ||
    fail "the node still has connections 5 s after the js cycles: $(peers | jq -c '[.peers[] | select(.connected)]') $(node_tail)"
  for ((i = 0; i < 50; i++)); do
    fds_after="$(fds_of "$NODE_PID")"
    ((fds_after <= fds_before + FD_MARGIN)) && break
    sleep 0.1
  done
  ((fds_after <= fds_before + FD_MARGIN)) ||
    fail "the node holds $fds_after fds after the js checks, $fds_before before (margin $FD_MARGIN): $(ls -l "/proc/$NODE_PID/fd" 2>&1 | tail -n 20)"
  log "  node: 0 connections; fds $fds_before before, $fds_after after"
}

# --- bzzz dials js ---------------------------------------------------------------------------
# The js listener reads commands from a FIFO held open on fd 3 ("stats" prints a line).
JS_OUT="$TMP/js.out"
start_js_listener() {
  mkfifo "$TMP/js.in"
  exec 3<>"$TMP/js.in"
  node "$PEER" listen --port 0 <"$TMP/js.in" >"$JS_OUT" 2>"$TMP/js.err" 3>&- &
  JS_PID=$!
  track "$JS_PID"
  local start=$SECONDS
  until grep -qs '"event":"listening"' "$JS_OUT"; do
    alive "$JS_PID" || fail "peer.mjs listen exited: $(tail -n 20 "$TMP/js.err")"
    ((SECONDS - start < 30)) || fail "peer.mjs listen printed no 'listening' line in 30 s: $(tail -n 20 "$TMP/js.err")"
    sleep 0.1
  done
  JS_ADDR="$(grep -m1 '"event":"listening"' "$JS_OUT" | jq -r '.addrs[0]')"
  JS_ID="${JS_ADDR##*/p2p/}"
}

# js_stats: asks the listener for a stats line and prints it.
js_stats() {
  local n start
  n="$(grep -c '"event":"stats"' "$JS_OUT" || true)"
  echo stats >&3
  start=$SECONDS
  while (($(grep -c '"event":"stats"' "$JS_OUT" || true) <= n)); do
    ((SECONDS - start < 10)) || fail "peer.mjs listen printed no stats line within 10 s"
    sleep 0.05
  done
  grep '"event":"stats"' "$JS_OUT" | tail -n 1
}

bzzz_dials_js() {
  local base body i rec after t
  base="$(js_stats)"
  log "  js listener $JS_ADDR; baseline $(jq -c '{connections, streams, fds}' <<<"$base")"

  api POST /v1/peers/connect "{\"addr\":\"$JS_ADDR\"}"
  body="$API_BODY"
  [[ "$API_CODE" == 200 ]] || fail "POST /v1/peers/connect $JS_ADDR: HTTP $API_CODE: $body $(node_tail)"
  [[ "$(jq -r .peer <<<"$body")" == "$JS_ID" ]] || fail "POST /v1/peers/connect answered another peer: $body"
  api POST /v1/peers/ping "{\"peer\":\"$JS_ID\",\"count\":3}"
  body="$API_BODY"
  [[ "$API_CODE" == 200 ]] || fail "POST /v1/peers/ping: HTTP $API_CODE: $body $(node_tail)"
  [[ "$(jq -r '.rtt_ms | length' <<<"$body")" == 3 ]] || fail "POST /v1/peers/ping count 3: $body"
  log "  node -> js: connect ok, ping rtt_ms $(jq -c .rtt_ms <<<"$body")"

  for ((i = 0; i < 50; i++)); do
    rec="$(peers | jq -c --arg id "$JS_ID" '.peers[] | select(.id == $id)')"
    [[ -n "$rec" ]] && has_protocols "$(jq -c .protocols <<<"$rec")" && break
    sleep 0.1
  done
  has_protocols "$(jq -c .protocols <<<"$rec")" || fail "/v1/peers: the js listener's protocols are incomplete: ${rec:-none}"
  [[ "$(jq -r .agent_version <<<"$rec")" == bzzz-interop-js/* ]] || fail "/v1/peers: the js listener's agent is wrong: $rec"
  [[ "$(jq -r .connected <<<"$rec")" == true ]] || fail "/v1/peers: not connected to the js listener: $rec"
  # and js identified the node (its identify event lists our protocols and agent)
  for ((i = 0; i < 50; i++)); do
    grep -q "\"event\":\"identify\".*\"peer\":\"$NODE_ID\"" "$JS_OUT" && break
    sleep 0.1
  done
  body="$(grep "\"event\":\"identify\".*\"peer\":\"$NODE_ID\"" "$JS_OUT" | head -n 1)"
  [[ -n "$body" ]] || fail "js logged no identify event from the node"
  has_protocols "$(jq -c .protocols <<<"$body")" || fail "js's identify of the node lacks protocols: $body"
  [[ "$(jq -r .agent <<<"$body")" == bzzz/* ]] || fail "js's identify of the node has agent $(jq -r .agent <<<"$body")"
  log "  js identified the node: agent '$(jq -r .agent <<<"$body")'"

  api DELETE "/v1/peers/$JS_ID"
  body="$API_BODY"
  [[ "$API_CODE" == 200 ]] || fail "DELETE /v1/peers/$JS_ID: HTTP $API_CODE: $body"

  t=$SECONDS
  bg_run "$TMP/probe.out" "$TMP/probe.err" 150 "$PROBE" dial "$JS_ADDR" --checks "$CHECKS" \
    --streams "$STREAMS" --size "$SIZE" --cycles "$CYCLES" --timeout 120
  log "  bzzz-p2p-probe dial exited $BG_RC after $((SECONDS - t)) s"
  [[ "$BG_RC" == 0 ]] ||
    fail "bzzz-p2p-probe dial exited $BG_RC: $(cat "$TMP/probe.out") -- stderr: $(tail -n 15 "$TMP/probe.err") -- js stderr: $(tail -n 15 "$TMP/js.err")"
  expect_checks "cpp->js" "$TMP/probe.out"

  # js: nothing left open. Sockets of connections that just closed may linger ~1-2 s.
  sleep 1.5
  for ((i = 0; i < 20; i++)); do
    after="$(js_stats)"
    if [[ "$(jq -r .connections <<<"$after")" == 0 && "$(jq -r .streams <<<"$after")" == 0 ]] &&
      (($(jq -r .fds <<<"$after") <= $(jq -r .fds <<<"$base") + JS_FD_MARGIN)); then
      break
    fi
    sleep 0.25
  done
  [[ "$(jq -r .connections <<<"$after")" == 0 ]] || fail "js still has connections after the probe: $after"
  [[ "$(jq -r .streams <<<"$after")" == 0 ]] || fail "js still has streams after the probe: $after"
  (($(jq -r .fds <<<"$after") <= $(jq -r .fds <<<"$base") + JS_FD_MARGIN)) ||
    fail "js holds $(jq -r .fds <<<"$after") fds after the probe, $(jq -r .fds <<<"$base") before (margin $JS_FD_MARGIN): $after"
  log "  js after: $(jq -c '{connections, streams, fds, connections_total, streams_total}' <<<"$after")"
  for ((i = 0; i < 30; i++)); do
    [[ "$(peers | jq -r .connections)" == 0 ]] && break
    sleep 0.1
  done
  [[ "$(peers | jq -r .connections)" == 0 ]] || fail "the node still has connections: $(peers | jq -c .peers)"
}

section "js dials bzzz (peer.mjs dial: $CHECKS)" js_dials_bzzz
start_js_listener
section "bzzz dials js (API connect/ping, bzzz-p2p-probe dial: $CHECKS)" bzzz_dials_js
log "took $((SECONDS - T0)) s"
finish_tests interop
