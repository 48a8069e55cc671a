#!/usr/bin/env bash
# mDNS discovery between machines, played by network namespaces (root only): three
# namespaces on one bridge (its own names, from this test's pid, so parallel runs stay
# apart), a node in each on 0.0.0.0:9000 with no bootstrap peer:
#   - the two with mdns.enabled=true (interval 1s) find each other and connect within
#     20 s, over their bridge addresses (a loopback address they also advertise must not
#     be dialed from another machine), and count one discovered peer each;
#   - the third, with mdns.enabled=false, neither finds nor is found;
#   - SIGTERM stops each node with exit 0.
# The namespaces and the bridge are removed on exit, also after a failure.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
[[ "$(id -u)" == 0 ]] || skip "needs root to create network namespaces (running as uid $(id -u))"
need_cmd curl jq

source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
SUBNET=10.213.0
PIDS=() IDS=()

stop_nodes() {
  local i
  for i in "${!PIDS[@]}"; do [[ -n "${PIDS[$i]}" ]] && kill -KILL "${PIDS[$i]}" 2>/dev/null; done
  return 0
}
netns_setup mdns 3 "$SUBNET" || skip "$NETNS_ERR"
on_exit stop_nodes  # (hooks run last-registered first: the nodes go before their namespaces)

api() { ip netns exec "${NS[$1]}" curl -s --max-time 5 "http://127.0.0.1:8080$2"; }

# start_node I MDNS: the node of namespace I, mDNS on or off.
start_node() {
  local i="$1" mdns="$2" t
  mkdir -p "$TMP/n$i"
  ip netns exec "${NS[$i]}" "$BZZZ_BIN" node --data "$TMP/n$i" --set "mdns.enabled=$mdns" --set mdns.interval=1s \
    --set p2p.listen=/ip4/0.0.0.0/tcp/9000 --set api.listen=127.0.0.1:8080 \
    --set node.io_threads=1 --set node.workers=2 --set store.threads=1 >"$TMP/n$i.log" 2>&1 &
  PIDS[$i]=$!
  for ((t = 0; t < 150; t++)); do
    IDS[$i]="$(api "$i" /v1/peers | jq -r .id 2>/dev/null || true)"
    [[ "${IDS[$i]}" == 12D3KooW* ]] && return 0
    alive "${PIDS[$i]}" || fail "node $i exited at start: $(tail -5 "$TMP/n$i.log")"
    sleep 0.1
  done
  fail "node $i did not answer on its API: $(tail -5 "$TMP/n$i.log")"
}

connected() { [[ "$(api "$1" /v1/peers | jq --arg id "$2" '[.peers[] | select(.id == $id and .connected)] | length')" == 1 ]]; }
known() { [[ "$(api "$1" /v1/peers | jq --arg id "$2" '[.peers[] | select(.id == $id)] | length')" != 0 ]]; }

node_logs() {
  local i
  for i in 1 2 3; do printf '\n--- node %s log (last 15 lines) ---\n' "$i"; tail -n 15 "$TMP/n$i.log" 2>/dev/null; done
}

log "start two nodes with mDNS on and one with it off; no bootstrap peers"
start_node 1 true
start_node 2 true
start_node 3 false
grep -q "mdns: discovering peers on 224.0.0.251:5353" "$TMP/n1.log" ||
  fail "node 1 did not start mDNS: $(grep -i mdns "$TMP/n1.log" | head -3)"
grep -qi "mdns" "$TMP/n3.log" && fail "node 3 runs mDNS although it is off: $(grep -i mdns "$TMP/n3.log" | head -3)"

log "nodes 1 and 2 find each other and connect"
start=$SECONDS
until connected 1 "${IDS[2]}" && connected 2 "${IDS[1]}"; do
  ((SECONDS - start < 20)) || fail "nodes 1 and 2 did not connect through mDNS within 20 s $(node_logs)"
  sleep 0.2
done
log "  connected after $((SECONDS - start)) s"
# The connection runs over the bridge: node 2's advertised 127.0.0.1 was not dialed.
remote="$(api 1 /v1/peers | jq -r --arg id "${IDS[2]}" '.peers[] | select(.id == $id) | .connections[0].remote_addr')"
[[ "$remote" == "/ip4/$SUBNET.2/"* ]] || fail "node 1's connection to node 2 is from '$remote', not $SUBNET.2"
addrs="$(api 1 /v1/peers | jq -r --arg id "${IDS[2]}" '.peers[] | select(.id == $id) | .addrs | join(" ")')"
assert_contains "$addrs" "/ip4/$SUBNET.2/tcp/9000" "node 2's addresses in node 1's peer store"
# (The store may hold node 2's 127.0.0.1 from identify; mDNS must not have taken it.)
found="$(grep "mdns: found peer ${IDS[2]}" "$TMP/n1.log" || true)"
[[ -n "$found" ]] || fail "node 1 logged no discovery of node 2 $(node_logs)"
assert_contains "$found" "at /ip4/$SUBNET.2/tcp/9000" "node 1's discovery of node 2"
assert_not_contains "$found" "127.0.0.1" "node 1's discovery of node 2"
# One may have been dialed before it heard the other's response: it hears the next one.
discovered_one() { api "$1" /metrics | grep -qx "bzzz_mdns_peers_discovered_total 1"; }
for i in 1 2; do
  start=$SECONDS
  until discovered_one "$i"; do
    ((SECONDS - start < 10)) || fail "node $i's bzzz_mdns_peers_discovered_total is not 1: $(api "$i" /metrics | grep mdns)"
    sleep 0.2
  done
  metrics="$(api "$i" /metrics)"
  assert_contains "$metrics" 'bzzz_mdns_queries_total{direction="out"}' "node $i's query counter"
  assert_contains "$metrics" 'bzzz_mdns_responses_total{direction="in"}' "node $i's response counter"
done

log "node 3 (mDNS off) is neither found nor finding"
sleep 3  # three more query rounds
for i in 1 2; do
  known "$i" "${IDS[3]}" && fail "node $i knows node 3, which has mDNS off"
done
assert_eq "$(api 3 /v1/peers | jq '.peers | length')" 0 "peers node 3 knows"

log "SIGTERM: every node exits 0"
for i in 1 2 3; do kill -TERM "${PIDS[$i]}"; done
for i in 1 2 3; do
  for ((t = 0; t < 150; t++)); do alive "${PIDS[$i]}" || break; sleep 0.1; done
  alive "${PIDS[$i]}" && fail "node $i still running 15 s after SIGTERM"
  rc=0
  wait "${PIDS[$i]}" || rc=$?
  PIDS[$i]=""
  assert_eq "$rc" 0 "node $i's exit code after SIGTERM $(tail -3 "$TMP/n$i.log")"
done
for i in 1 2 3; do
  grep -qi "error\|abandon" "$TMP/n$i.log" && fail "node $i logged an error: $(grep -i "error\|abandon" "$TMP/n$i.log" | head -3)"
done
echo "PASS: mdns_netns_test"
