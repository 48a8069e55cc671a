#!/usr/bin/env bash
# Replication across machines: each node in a network namespace of its own on one bridge
# (root), or, without root, processes on loopback (the same steps). Repairs run every 2 s.
#   1. A, B and C: a 3 MiB blob put on A with replicas=3 is on B and C (pinned, the same
#      bytes) when the put returns; so is a blob put with `bzzz put --replicas 3` (and
#      --replicas 9, past the factor, is refused);
#   2. A is killed with SIGKILL; the blob is read from C;
#   3. a fourth node D joins: within the repair interval the blob is on D too (B, C, D
#      are the live nodes);
#   4. A restarts (its store lost nothing acknowledged: the blob is there and verified);
#      with four live nodes the blob ends on exactly the three responsible ones;
#   5. a holder other than C is killed with SIGKILL: within the repair interval the blob
#      is again on three live nodes, the responsible ones, with the same bytes;
#   6. GET /v1/replication, `bzzz replicas`, `bzzz stat`, `bzzz replication` and the
#      replication health check say so; a byte changed in C's copy on disk is never
#      served: a read from C fetches a sound copy from a peer and repairs C's (pin
#      kept); changed again, it is found by `bzzz scrub` and fetched again.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd curl jq b3sum python3

NAMES=(x A B C D)
MODE=loopback
if [[ "$(id -u)" == 0 ]] && command -v ip >/dev/null 2>&1 && [[ "${BZZZ_TEST_NO_NETNS:-}" != 1 ]]; then
  MODE=netns
fi

source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
SUBNET=10.214.$(($$ % 200))
declare -a PIDS=() IDS=() APIS=() PORTS=()

stop_nodes() {
  local i
  for i in "${!PIDS[@]}"; do [[ -n "${PIDS[$i]}" ]] && kill -KILL "${PIDS[$i]}" 2>/dev/null; done
  return 0
}
if [[ "$MODE" == netns ]] && ! netns_setup repl 4 "$SUBNET"; then
  log "$NETNS_ERR: running on loopback instead"
  MODE=loopback
fi
on_exit stop_nodes  # (hooks run last-registered first: the nodes go before their namespaces)
[[ "$MODE" == netns ]] || log "not in network namespaces ($( [[ "$(id -u)" == 0 ]] && echo "none here" || echo "needs root")): processes on loopback"

# How node I is run and reached, in either mode.
in_ns() {
  local i="$1"
  shift
  if [[ "$MODE" == netns ]]; then ip netns exec "${NS[$i]}" "$@"; else "$@"; fi
}
host_of() { if [[ "$MODE" == netns ]]; then echo "$SUBNET.$1"; else echo 127.0.0.1; fi; }
addr() { echo "/ip4/$(host_of "$1")/tcp/${PORTS[$1]}/p2p/${IDS[$1]}"; }
url() { echo "http://127.0.0.1:${APIS[$1]}$2"; }
api() { in_ns "$1" curl -s --max-time 30 "$(url "$1" "$2")"; }
post() { in_ns "$1" curl -s --max-time 60 -X POST "$(url "$1" "$2")" "${@:3}"; }
cli() {
  local i="$1"
  shift
  in_ns "$i" "$BZZZ_BIN" --data "$TMP/n$i" --set "api.url=$(url "$i" "")" "$@"
}

start_node() {
  local i="$1"
  shift
  local boot
  boot="$(IFS=,; echo "$*")"
  if [[ -z "${APIS[$i]:-}" ]]; then
    if [[ "$MODE" == netns ]]; then APIS[$i]=8080 PORTS[$i]=4001; else APIS[$i]="$(free_port)" PORTS[$i]="$(free_port)"; fi
  fi
  mkdir -p "$TMP/n$i"
  local run=()
  [[ "$MODE" == netns ]] && run=(ip netns exec "${NS[$i]}")  # it execs: $! is the node's pid
  "${run[@]}" "$BZZZ_BIN" node --data "$TMP/n$i" --listen "127.0.0.1:${APIS[$i]}" \
    --set "p2p.listen=/ip4/$(host_of "$i")/tcp/${PORTS[$i]}" --set "p2p.bootstrap=$boot" \
    --set replication.repair_interval=2s --set replication.settle_delay=300ms \
    --set replication.grace=1s --set health.interval=200ms >>"$TMP/n$i.log" 2>&1 &
  PIDS[$i]=$!
  local t
  for ((t = 0; t < 100; t++)); do
    IDS[$i]="$(api "$i" /v1/peers | jq -r .id 2>/dev/null || true)"
    [[ "${IDS[$i]}" == 12D3KooW* ]] && return 0
    alive "${PIDS[$i]}" || fail "node ${NAMES[$i]} exited at start: $(tail -5 "$TMP/n$i.log")"
    sleep 0.1
  done
  fail "node ${NAMES[$i]} did not answer on its API: $(tail -5 "$TMP/n$i.log")"
}

kill_node() {
  kill -KILL "${PIDS[$1]}"
  wait "${PIDS[$1]}" 2>/dev/null || true
  PIDS[$1]=""
}

# Whether node I holds the blob pinned, with the right bytes (a local read: no fetch).
holds() {
  local i="$1" pins
  pins="$(api "$i" "/v1/blobs/$HASH/meta" | jq -r '.pins // 0' 2>/dev/null || echo 0)"
  [[ "$pins" -gt 0 ]] || return 1
  [[ "$(api "$i" "/v1/blobs/$HASH?local=1" | b3sum --no-names)" == "$HASH" ]]
}
holders() {
  local i out=""
  for i in "$@"; do holds "$i" && out+="${NAMES[$i]}"; done
  echo "$out"
}
# Node I's view: how many live nodes it counts after a repair round now.
live_nodes() { post "$1" /v1/replication/repair | jq -r .live_nodes; }
wait_live() {
  local i="$1" want="$2" t
  for ((t = 0; t < 100; t++)); do
    [[ "$(live_nodes "$i")" == "$want" ]] && return 0
    sleep 0.2
  done
  fail "node ${NAMES[$i]} does not see $want live nodes (it sees $(live_nodes "$i"))"
}
# The responsible nodes of the blob, as node I's names (letters).
responsible() {
  local i="$1" ids j out=""
  ids="$(api "$i" "/v1/replication/blobs/$HASH" | jq -r '.responsible[]')"
  for j in 1 2 3 4; do
    grep -qx "${IDS[$j]:-none}" <<<"$ids" && out+="${NAMES[$j]}"
  done
  echo "$out"
}

log "mode: $MODE"
start_node 1
start_node 2 "$(addr 1)"
start_node 3 "$(addr 1)" "$(addr 2)"
for i in 1 2 3; do wait_live "$i" 3; done

log "1. a blob put on A with replicas=3 is on B and C when the put returns"
head -c $((3 * 1024 * 1024 + 123)) /dev/urandom >"$TMP/blob"
HASH="$(b3sum --no-names "$TMP/blob")"
post 1 "/v1/blobs?replicas=3" --data-binary @"$TMP/blob" -o "$TMP/put.json" -w '%{http_code}' >"$TMP/put.code"
assert_eq "$(cat "$TMP/put.code")" 201 "the put's status ($(cat "$TMP/put.json"))"
assert_eq "$(jq -r .hash "$TMP/put.json")" "$HASH" "the put's hash"
assert_eq "$(jq -r '.replicas | length' "$TMP/put.json")" 3 "copies the put reports ($(cat "$TMP/put.json"))"
assert_eq "$(holders 2 3)" "BC" "holders among B and C right after the put"
holds 1 || fail "A does not hold its own put pinned"
# The CLI's put asks the same: a second blob, put on B, is on three nodes when it returns.
head -c 200000 /dev/urandom >"$TMP/small"
SMALL="$(cli 2 put --replicas 3 "$TMP/small")" || fail "bzzz put --replicas 3 failed"
copies=0
for i in 1 2 3; do
  [[ "$(api "$i" "/v1/blobs/$SMALL/meta" | jq -r '.pins // 0')" -gt 0 ]] && copies=$((copies + 1))
done
assert_eq "$copies" 3 "pinned copies of the blob put with bzzz put --replicas 3"
cli 2 put --replicas 9 "$TMP/small" >/dev/null 2>"$TMP/err" && fail "put --replicas 9 succeeded"
grep -q "replicas" "$TMP/err" || fail "put --replicas 9 says: $(cat "$TMP/err")"

log "2. A is killed with SIGKILL; the blob is read from C"
kill_node 1
api 3 "/v1/blobs/$HASH?local=1" >"$TMP/from-c"
cmp -s "$TMP/blob" "$TMP/from-c" || fail "the blob read from C differs from what was put"

log "3. D joins: the blob reaches it within the repair interval"
start_node 4 "$(addr 2)" "$(addr 3)"
wait_until 30 "D holds the blob" holds 4
assert_eq "$(holders 2 3 4)" "BCD" "holders among B, C, D"

log "4. A restarts: its acknowledged put survived SIGKILL; four live nodes settle on the responsible three"
start_node 1 "$(addr 2)" "$(addr 3)"
[[ "$(api 1 "/v1/blobs/$HASH?local=1" | b3sum --no-names)" == "$HASH" ]] || fail "A lost its blob in the SIGKILL"
for i in 1 2 3 4; do wait_live "$i" 4; done
want="$(responsible 3)"
assert_eq "${#want}" 3 "responsible nodes of four live ones ($want)"
settled() { [[ "$(holders 1 2 3 4)" == "$(responsible 3)" ]]; }
wait_until 30 "the replicas are on exactly the responsible nodes ($(responsible 3))" settled

log "5. a holder other than C is killed: repair brings the blob back to three live nodes"
victim=""
for i in 1 2 4; do
  [[ "$want" == *"${NAMES[$i]}"* ]] && { victim="$i"; break; }
done
[[ -n "$victim" ]] || fail "no responsible holder other than C in $want"
log "   killing ${NAMES[$victim]} (responsible: $want)"
kill_node "$victim"
live=()
for i in 1 2 3 4; do [[ -n "${PIDS[$i]}" ]] && live+=("$i"); done
three() { [[ "$(holders "${live[@]}")" == "$(responsible 3)" && "$(responsible 3 | wc -c)" == 4 ]]; }
wait_until 30 "three live holders after ${NAMES[$victim]} went" three
for i in "${live[@]}"; do
  api "$i" "/v1/blobs/$HASH?local=1" >"$TMP/copy"
  cmp -s "$TMP/blob" "$TMP/copy" || fail "node ${NAMES[$i]}'s copy differs"
done

log "6. the faces: /v1/replication, bzzz replicas, the health check"
post 3 /v1/replication/repair >/dev/null
doc="$(api 3 /v1/replication)"
assert_eq "$(jq -r .factor <<<"$doc")" 3 "factor"
assert_eq "$(jq -r .under_replicated <<<"$doc")" 0 "under-replicated on C ($doc)"
assert_eq "$(jq -r .live_nodes <<<"$doc")" 3 "live nodes seen by C"
cli 3 replicas "$HASH" >"$TMP/replicas.txt" || fail "bzzz replicas failed: $(cat "$TMP/replicas.txt")"
grep -q "replicas:    3 of 3 on 3 live nodes" "$TMP/replicas.txt" || fail "bzzz replicas says: $(cat "$TMP/replicas.txt")"
cli 3 stat "$HASH" >"$TMP/stat.txt" || fail "bzzz stat failed"
grep -q "replicas:    3 of 3 on 3 live nodes" "$TMP/stat.txt" || fail "bzzz stat says: $(cat "$TMP/stat.txt")"
cli 3 replication >"$TMP/status.txt" || fail "bzzz replication failed"
grep -q "0 under-replicated" "$TMP/status.txt" || fail "bzzz replication says: $(cat "$TMP/status.txt")"
# A damaged replica. Read from C: no damaged byte is served, and a GET that finds the
# damage before sending fetches a sound copy from a peer (a read cut off mid-way flags
# the copy, so the next read repairs it).
file="$TMP/n3/blobs/data/${HASH:0:2}/${HASH:2:2}/$HASH"
[[ -f "$file" ]] || fail "C's copy is not the raw file $file"
flip() { python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(1500000); b = f.read(1); f.seek(1500000); f.write(bytes([b[0] ^ 1]))' "$file"; }
flip
repaired=""
for try in 1 2 3; do
  api 3 "/v1/blobs/$HASH" >"$TMP/copy" || true
  if cmp -s "$TMP/blob" "$TMP/copy"; then repaired=yes; break; fi
  [[ "$(b3sum --no-names "$TMP/copy")" != "$HASH" ]] || fail "C served bytes that hash right but differ"
done
[[ -n "$repaired" ]] || fail "reads from C did not repair its damaged copy"
api 3 "/v1/blobs/$HASH?local=1" >"$TMP/copy"
cmp -s "$TMP/blob" "$TMP/copy" || fail "C's own copy was not repaired by the read"
[[ "$(api 3 "/v1/blobs/$HASH/meta" | jq -r .pins)" -gt 0 ]] || fail "C's repaired copy lost its pin"
# Damaged again: a scrub on C finds it and fetches it again from a peer.
flip
cli 3 scrub >"$TMP/scrub.txt" || fail "bzzz scrub failed: $(cat "$TMP/scrub.txt")"
grep -q "1 bad, 1 repaired" "$TMP/scrub.txt" || fail "bzzz scrub says: $(cat "$TMP/scrub.txt")"
api 3 "/v1/blobs/$HASH?local=1" >"$TMP/copy"
cmp -s "$TMP/blob" "$TMP/copy" || fail "C's copy after the scrub differs"
check_pass() { [[ "$(api 3 /health/checks | jq -r '.checks["replication:replicas"][0].status')" == pass ]]; }
wait_until 10 "C's replication:replicas check passes" check_pass

for i in "${live[@]}"; do
  kill -TERM "${PIDS[$i]}"
done
for i in "${live[@]}"; do
  set +e
  wait "${PIDS[$i]}"
  rc=$?
  set -e
  assert_eq "$rc" 0 "node ${NAMES[$i]}'s exit code after SIGTERM"
  PIDS[$i]=""
done
log "ok ($MODE)"
