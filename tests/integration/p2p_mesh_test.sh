#!/usr/bin/env bash
# C++ to C++ over libp2p on loopback: two and then ten nodes find each other through
# p2p.bootstrap, identify each other, ping; a bootstrap node's restart is survived (the
# others redial with backoff and get back in); everything shuts down cleanly (exit 0).
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd curl jq

source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"
# The DHT stays off: its lookups dial peers on their own, which would blur what this
# test watches (the bootstrap redial with backoff). tests/integration/dht_node_test.sh
# runs nodes with it.
NODE_SETTINGS=(--set p2p.backoff_max=4s --set node.io_threads=1 --set node.workers=2 --set store.threads=1
  --set dht.enabled=false)

peers() { curl -s --max-time 5 "http://127.0.0.1:${APIS[$1]}/v1/peers"; }
connections() { peers "$1" | jq -r .connections; }

has_connections() { [[ "$(connections "$1")" -ge "$2" ]]; }
# connected_to I ID: node I has a connection to peer ID. (With the DHT the nodes also
# meet each other, not only their bootstrap peer.)
connected_to() { [[ "$(peers "$1" | jq --arg id "$2" '[.peers[] | select(.id == $id and .connected)] | length')" == 1 ]]; }
not_connected_to() { ! connected_to "$@"; }
identified() { [[ "$(peers "$1" | jq --arg id "$2" '[.peers[] | select(.id == $id and .agent_version != "")] | length')" == 1 ]]; }

two_nodes() {
  SET=two
  NODE_ROOT="$TMP/$SET"
  start_node 0
  start_node 1 "$(addr 0)"
  wait_until 10 "node 1 connects to its bootstrap peer" has_connections 1 1
  wait_until 10 "node 0 sees node 1" has_connections 0 1
  wait_until 10 "node 1 identifies node 0" identified 1 "${IDS[0]}"
  wait_until 10 "node 0 identifies node 1" identified 0 "${IDS[1]}"
  local doc
  doc="$(peers 1)"
  assert_contains "$(jq -r '.peers[0].protocols | join(" ")' <<<"$doc")" "/ipfs/ping/1.0.0" "node 0's protocols"
  assert_eq "$(jq -r '.peers[0].agent_version' <<<"$doc")" "bzzz/$("$BZZZ_BIN" --json version | jq -r .version)" \
    "node 0's agent version"
  expect_rc 0 "ping node 0 from node 1" "$BZZZ_BIN" --set "api.listen=127.0.0.1:${APIS[1]}" ping "${IDS[0]}" -c 3
  assert_contains "$RUN_OUT" "pong from ${IDS[0]}" "ping output"
  expect_rc 0 "ping node 1 from node 0" "$BZZZ_BIN" --set "api.listen=127.0.0.1:${APIS[0]}" ping "${IDS[1]}" -c 3
  # p2p metrics move.
  local metrics
  metrics="$(curl -s "http://127.0.0.1:${APIS[0]}/metrics")"
  assert_contains "$metrics" 'bzzz_p2p_connections{direction="inbound"} 1' "inbound connection gauge"
  assert_contains "$metrics" 'bzzz_p2p_streams_total{direction="outbound",protocol="/ipfs/ping/1.0.0"}' "ping streams counted"
  assert_contains "$metrics" 'bzzz_p2p_ping_rtt_seconds_count' "ping RTT histogram"
  # The health check passes once a peer is connected.
  wait_until 10 "the p2p health check passes with a peer" \
    bash -c "[[ \$(curl -s http://127.0.0.1:${APIS[0]}/health/checks | jq -r '.checks[\"p2p:connections\"][0].status') == pass ]]"
  graceful_stop 1
  wait_until 10 "node 0 sees node 1 go" bash -c "[[ \$(curl -s http://127.0.0.1:${APIS[0]}/v1/peers | jq .connections) == 0 ]]"
  graceful_stop 0
}

ten_nodes() {
  PIDS=() APIS=() PORTS=() IDS=()
  SET=ten
  NODE_ROOT="$TMP/$SET"
  local i
  start_node 0
  for ((i = 1; i < 10; i++)); do start_node "$i" "$(addr 0)"; done
  wait_until 20 "node 0 has the nine others" has_connections 0 9
  for ((i = 1; i < 10; i++)); do
    wait_until 10 "node $i connected" has_connections "$i" 1
    wait_until 10 "node $i identifies node 0" identified "$i" "${IDS[0]}"
  done
  log "restart node 0 (SIGKILL, then the same data dir and port)"
  kill -KILL "${PIDS[0]}"
  wait "${PIDS[0]}" 2>/dev/null || true
  PIDS[0]=""
  for ((i = 1; i < 10; i++)); do
    wait_until 10 "node $i notices node 0 is gone" not_connected_to "$i" "${IDS[0]}"
  done
  sleep 2  # a few failed redials: the backoff grows
  local old_id="${IDS[0]}"
  start_node 0
  assert_eq "${IDS[0]}" "$old_id" "node 0 keeps its identity across the restart"
  wait_until 20 "all nine redial node 0 after its restart" has_connections 0 9
  grep -q "retrying with backoff" "$TMP/$SET/n1.log" || fail "node 1 logged no backoff: $(tail -5 "$TMP/$SET/n1.log")"
  grep -q "bootstrap peer .* reached after" "$TMP/$SET/n1.log" || fail "node 1 logged no reconnect"
  expect_rc 0 "ping node 0 from node 5 after the restart" \
    "$BZZZ_BIN" --set "api.listen=127.0.0.1:${APIS[5]}" ping "${IDS[0]}" -c 1
  for ((i = 9; i >= 0; i--)); do graceful_stop "$i"; done
  for ((i = 0; i < 10; i++)); do
    grep -qi "error\|abandon" "$TMP/$SET/n$i.log" && fail "node $i logged an error: $(grep -i "error\|abandon" "$TMP/$SET/n$i.log" | head -3)"
  done
  return 0
}

section "two nodes through bootstrap: identify, ping, metrics, health, shutdown" two_nodes
section "ten nodes through bootstrap; the bootstrap node restarts" ten_nodes
finish_tests p2p_mesh_test
