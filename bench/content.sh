#!/usr/bin/env bash
# Content benchmarks: real `bzzz node` processes on loopback (TCP + Noise + yamux), data
# dirs in one temp dir on the filesystem of /tmp, every figure beside its anchor measured
# in the same run:
#   1 GiB between two nodes    B fetches a 1 GiB random blob (put on A unpinned, so
#                              that A's replication leaves it alone) from A over
#                              /bzzz/blob/1.0.0 into its store, verified and durable
#                              (POST /v1/blobs/HASH/fetch, wall time; best and worst of
#                              CONTENT_BENCH_FETCHES runs, B restarted on a fresh data
#                              dir between them); B's copy is then hashed with b3sum.
#                              Anchor: raw TCP, 1 GiB through one loopback connection
#                              with socat (OPEN:/dev/zero -> /dev/null, best of 3); also
#                              shown: raw TCP into a file on the data filesystem + sync
#                              of it (what a store must do). Goal: >= 0.5 of raw TCP.
#   1,000 x 1 MiB to factor 3  5 nodes (2..5 bootstrap from 1, repair_interval 1s,
#                              settle_delay 200ms): placement_check.py puts 1,000 pinned
#                              1 MiB random blobs round-robin; timed from the first put
#                              until a pass of POST /v1/replication/repair over all
#                              nodes finds nothing to do (pushed + dropped +
#                              under_replicated + failed == 0 everywhere); then
#                              placement_check.py check 3 must pass. Anchors from the
#                              research: iroh syncs about 400 files/s (sendme,
#                              localhost); R2 goal: 10k blobs of 4 KiB to 3 replicas in
#                              <= 2 s.
# Also printed: the nodes' CPU time during each fetch, and the warnings and errors of the
# nodes' logs (hashes and peer ids folded, so alike lines count together).
# Usage: bench/content.sh [BUILD_DIR]
#   CONTENT_BENCH_DIR (parent of the temp dir, /tmp), CONTENT_BENCH_KEEP=1 (keep the temp
#   dir: logs, data dirs), CONTENT_BENCH_FETCHES (2), CONTENT_BENCH_BLOBS (1000),
#   CONTENT_BENCH_SOCAT_BUF (socat's block size, 4194304), CONTENT_BENCH_PUTTERS (put
#   clients at once, 1: one client puts one blob at a time, so the puts' latency bounds
#   the time to factor 3) override.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bzzz
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLACEMENT=$ROOT/tests/integration/placement_check.py
PARENT=${CONTENT_BENCH_DIR:-/tmp}
FETCHES=${CONTENT_BENCH_FETCHES:-2}
BLOBS=${CONTENT_BENCH_BLOBS:-1000}
SOCAT_BUF=${CONTENT_BENCH_SOCAT_BUF:-4194304}
PUTTERS=${CONTENT_BENCH_PUTTERS:-1}
GIB=1073741824
MIB=1048576

die() { echo "bench: $*" >&2; exit 1; }
[[ -x $BIN ]] || die "$BIN missing (build it)"
for tool in socat curl jq b3sum bc python3 ss; do
  command -v "$tool" >/dev/null || die "$tool missing (scripts/setup.sh --bench)"
done
[[ -f $PLACEMENT ]] || die "$PLACEMENT missing"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # stop PID

# 1 GiB source + A's and B's copies, then 3 GiB of replicas + the puts' staging.
need_kib=$((6 * 1024 * 1024))
avail_kib=$(df -Pk "$PARENT" | awk 'NR == 2 { print $4 }')
((avail_kib >= need_kib)) || die "$PARENT has $((avail_kib / 1024)) MiB free; this bench needs 6 GiB"

WORK=$(mktemp -d "$PARENT/bzzz-content.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do stop "$p"; done
  if [[ ${CONTENT_BENCH_KEEP:-0} == 1 ]]; then
    echo "bench: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
calc() { echo "$*" | bc -l; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_listening() {
  local port=$1 pid=$2
  for _ in $(seq 200); do
    ss -Hltn "sport = :$port" | grep -q . && return 0
    kill -0 "$pid" 2>/dev/null || die "socat on port $port exited"
    sleep 0.05
  done
  die "socat does not listen on port $port"
}
verdict() { if [[ $1 == 1 ]]; then echo "goal met"; else echo "GOAL MISSED"; fi; }

# --- nodes -------------------------------------------------------------------------------------
declare -A API PID ADDR
# start_node NAME BOOTSTRAP [--set k=v ...]: a node on free loopback ports with its data
# dir WORK/NAME (fresh) and its log WORK/NAME.log; sets API[NAME], PID[NAME], ADDR[NAME].
start_node() {
  local name=$1 boot=$2 p2p api id=''
  shift 2
  p2p=$(free_port)
  api=$(free_port)
  rm -rf "${WORK:?}/$name"
  "$BIN" node --data "$WORK/$name" --listen "127.0.0.1:$api" --set mdns.enabled=false \
    --set "p2p.listen=/ip4/127.0.0.1/tcp/$p2p" --set "p2p.bootstrap=$boot" "$@" \
    >>"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  PIDS+=("${PID[$name]}")
  API[$name]=127.0.0.1:$api
  for _ in $(seq 300); do
    id=$(curl -s --max-time 2 "http://${API[$name]}/v1/peers" 2>/dev/null | jq -r .id 2>/dev/null || true)
    [[ $id == 12D3KooW* ]] && break
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  [[ $id == 12D3KooW* ]] || { tail -20 "$WORK/$name.log" >&2; die "bzzz node $name did not start"; }
  ADDR[$name]=/ip4/127.0.0.1/tcp/$p2p/p2p/$id
}
stop_node() {
  stop "${PID[$1]}"
  rm -rf "${WORK:?}/$1"
}
repair() { curl -sS --max-time 300 -X POST "http://${API[$1]}/v1/replication/repair"; }

# --- 1. raw TCP ----------------------------------------------------------------------------------
# raw_tcp SINK [FILE]: seconds to send 1 GiB through one loopback TCP connection into
# SINK (a socat address), from the sender's start until the receiver exited and, when
# FILE is given, FILE was synced.
raw_tcp() {
  local sink=$1 file=${2:-} port pid t0
  port=$(free_port)
  socat -u -b "$SOCAT_BUF" "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" "$sink" &
  pid=$!
  PIDS+=("$pid")
  wait_listening "$port" "$pid"
  t0=$(now)
  socat -u -b "$SOCAT_BUF" "OPEN:/dev/zero,readbytes=$GIB" "TCP:127.0.0.1:$port"
  wait "$pid" || die "socat into $sink failed"
  [[ -z $file ]] || sync "$file"
  calc "$(now) - $t0"
}
# raw TCP into a file + sync: what the store has to do with the same bytes.
raw_file() {
  rm -f "$WORK/raw.bin"
  raw_tcp "CREATE:$WORK/raw.bin" "$WORK/raw.bin"
  rm -f "$WORK/raw.bin"
}
mbps() { calc "$1 / $2 / 1000000"; }
# cpu_s PID: CPU seconds (user + system) the process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }

echo "bzzz content benchmarks ($(nproc) cores; loopback; data in $PARENT on $(df -P "$PARENT" | awk 'NR == 2 { print $1 }'))"
raw_best=''
for _ in 1 2 3; do
  t=$(raw_tcp /dev/null)
  [[ -z $raw_best ]] || (($(calc "$t < $raw_best"))) && raw_best=$t
done
raw_mbps=$(mbps "$GIB" "$raw_best")
rawf_s=$(raw_file)
rawf_mbps=$(mbps "$GIB" "$rawf_s")
printf '  anchor: raw TCP (socat, %d KiB blocks, best of 3) %.0f MB/s; raw TCP into a file + sync %.0f MB/s (%.2f s)\n' \
  "$((SOCAT_BUF / 1024))" "$raw_mbps" "$rawf_mbps" "$rawf_s"

# --- 2. 1 GiB between two nodes ------------------------------------------------------------------
head -c "$GIB" /dev/urandom >"$WORK/blob.bin"
start_node a ''
start_node b "${ADDR[a]}"
# Not pinned: a pinned put is pushed to its responsible nodes (B among them, with 2 nodes
# and factor 3) by A's replication, and B must fetch the blob itself. An unpinned blob
# stays in A's store (nothing collects it unasked) and is left alone by replication.
put=$(curl -sS --fail-with-body -X POST -T "$WORK/blob.bin" -H 'Expect:' \
  -H 'Content-Type: application/octet-stream' "http://${API[a]}/v1/blobs") ||
  die "put of 1 GiB on A failed: $put"
HASH=$(jq -r .hash <<<"$put")
[[ $HASH =~ ^[0-9a-f]{64}$ ]] || die "put on A answered no hash: $put"
rm -f "$WORK/blob.bin"

FETCH_S=() FETCH_NODE_S=() FETCH_CPU=()
for run in $(seq "$FETCHES"); do
  if ((run > 1)); then
    stop_node b
    start_node b "${ADDR[a]}"
  fi
  # B knows A from its bootstrap; let the connection and identify finish first.
  for _ in $(seq 100); do
    [[ $(curl -s "http://${API[b]}/v1/peers" | jq -r --arg a "${ADDR[a]##*/}" '[.peers[] | select(.id == $a and .connected)] | length') != 0 ]] && break
    sleep 0.1
  done
  cpu_a=$(cpu_s "${PID[a]}") cpu_b=$(cpu_s "${PID[b]}")
  t0=$(now)
  code=$(curl -sS -o "$WORK/fetch.json" -w '%{http_code}' --max-time 600 -X POST "http://${API[b]}/v1/blobs/$HASH/fetch") || true
  t=$(calc "$(now) - $t0")
  FETCH_CPU+=("$(printf 'A %.1f s, B %.1f s' "$(calc "$(cpu_s "${PID[a]}") - $cpu_a")" "$(calc "$(cpu_s "${PID[b]}") - $cpu_b")")")
  [[ $code == 200 ]] || die "POST /v1/blobs/HASH/fetch on B answered $code: $(head -c 300 "$WORK/fetch.json")"
  [[ $(jq -r .fetched "$WORK/fetch.json") == true ]] || die "B did not fetch (it held the blob already?): $(cat "$WORK/fetch.json")"
  [[ $(jq -r .size "$WORK/fetch.json") == "$GIB" ]] || die "B's fetch answered a size other than 1 GiB: $(cat "$WORK/fetch.json")"
  got=$(curl -sS "http://${API[b]}/v1/blobs/$HASH?local=1" | b3sum --no-names)
  [[ $got == "$HASH" ]] || die "B serves bytes hashing to $got, not $HASH"
  FETCH_S+=("$t")
  FETCH_NODE_S+=("$(printf '%.2f' "$(jq -r .seconds "$WORK/fetch.json")")")
done
best=$(printf '%s\n' "${FETCH_S[@]}" | sort -g | head -n 1)
worst=$(printf '%s\n' "${FETCH_S[@]}" | sort -g | tail -n 1)
best_mbps=$(mbps "$GIB" "$best")
worst_mbps=$(mbps "$GIB" "$worst")
ratio=$(calc "$best_mbps / $raw_mbps")
printf '  1 GiB A -> B (fetch into B'"'"'s store, verified, durable; %d runs): best %.0f MB/s (%.2f s), worst %.0f MB/s (%.2f s); node-reported %s s\n' \
  "$FETCHES" "$best_mbps" "$best" "$worst_mbps" "$worst" "$(printf '%s ' "${FETCH_NODE_S[@]}" | sed 's/ $//')"
printf '    CPU time of the nodes per fetch (wall time x %d cores available): %s\n' "$(nproc)" "$(printf '[%s] ' "${FETCH_CPU[@]}" | sed 's/ $//')"
printf '    vs raw TCP: best %.2f, worst %.2f; vs raw TCP into a file + sync: best %.2f; B'"'"'s copy hashes to HASH\n' \
  "$ratio" "$(calc "$worst_mbps / $raw_mbps")" "$(calc "$best_mbps / $rawf_mbps")"
echo "  1 GiB between two nodes >= 0.5 of raw TCP (best run): $(verdict "$(calc "$ratio >= 0.5")")"
stop_node b
stop_node a

# --- 3. 1,000 x 1 MiB to factor 3 on 5 nodes -----------------------------------------------------
REPL=(--set replication.repair_interval=1s --set replication.settle_delay=200ms)
start_node n1 '' "${REPL[@]}"
for i in 2 3 4 5; do start_node "n$i" "${ADDR[n1]}" "${REPL[@]}"; done
NODES=(n1 n2 n3 n4 n5)
APIS=()
for n in "${NODES[@]}"; do APIS+=("${API[$n]}"); done
live_ok=0
for _ in $(seq 120); do
  live_ok=1
  for n in "${NODES[@]}"; do
    [[ $(repair "$n" | jq -r .live_nodes) == 5 ]] || { live_ok=0; break; }
  done
  ((live_ok)) && break
  sleep 0.5
done
((live_ok)) || die "the 5 nodes do not all see 5 live nodes after 60 s"

t0=$(now)
# PUTTERS clients at once, each round-robin over the nodes from its own first node.
put_pids=()
for k in $(seq 0 $((PUTTERS - 1))); do
  n=$((BLOBS / PUTTERS + (k < BLOBS % PUTTERS ? 1 : 0)))
  python3 "$PLACEMENT" put "$n" "$MIB" "${APIS[@]:k % 5}" "${APIS[@]:0:k % 5}" >"$WORK/hashes.$k" &
  put_pids+=($!)
  PIDS+=($!)
done
for p in "${put_pids[@]}"; do wait "$p" || die "placement_check.py put failed"; done
cat "$WORK"/hashes.* >"$WORK/hashes"
t_put=$(calc "$(now) - $t0")
passes=0 settled=0
while (($(calc "$(now) - $t0 < 600"))); do
  passes=$((passes + 1))
  settled=1 pinned=0
  for n in "${NODES[@]}"; do
    r=$(repair "$n") || { settled=0; continue; }
    [[ $(jq -r '.pushed + .dropped + .under_replicated + .failed' <<<"$r") == 0 ]] || settled=0
    pinned=$((pinned + $(jq -r .blobs <<<"$r")))
  done
  ((settled)) && break
  sleep 0.2
done
t_f3=$(calc "$(now) - $t0")
((settled)) || die "replication did not settle within 600 s"
((pinned > 0)) || die "no node holds a pinned blob: the node lacks POST /v1/blobs?pin=1"
check=$(python3 "$PLACEMENT" check 3 "$WORK/hashes" "${APIS[@]}") || die "placement check failed: $check"
blobs_s=$(calc "$BLOBS / $t_f3")
printf '  %d x 1 MiB to factor 3 on 5 nodes (%d put client(s)): puts %.2f s (%.0f MB/s), factor 3 after %.2f s (%.2f s after the last put; %d repair passes): %.0f blobs/s, %.0f MB/s of replicas stored (%.2f GiB; %d pinned copies)\n' \
  "$BLOBS" "$PUTTERS" "$t_put" "$(mbps "$((BLOBS * MIB))" "$t_put")" "$t_f3" "$(calc "$t_f3 - $t_put")" "$passes" "$blobs_s" \
  "$(mbps "$((3 * BLOBS * MIB))" "$t_f3")" "$(calc "3 * $BLOBS / 1024")" "$pinned"
echo "    $check"
printf '    anchors (research): iroh about 400 files/s (sendme, localhost): %.2fx; R2 goal 10k x 4 KiB to 3 replicas in <= 2 s (5000 blobs/s; other blob size, not measured here)\n' \
  "$(calc "$blobs_s / 400")"

# --- the nodes' logs -----------------------------------------------------------------------------
problems=$(grep -hE '^[0-9T:.-]+Z (warn|error|critical) ' "$WORK"/*.log 2>/dev/null || true)
if [[ -n $problems ]]; then
  echo "  node logs: $(wc -l <<<"$problems") warning/error lines, e.g.:"
  sed -E 's/^[0-9T:.-]+Z //; s/[0-9a-f]{64}/HASH/g; s/12D3KooW[1-9A-HJ-NP-Za-km-z]+/PEER/g; s/stream [0-9]+/stream N/g; s/[0-9]+(\.[0-9]+)? ?(ms|s)\b/N\2/g' <<<"$problems" |
    sort | uniq -c | sort -rn | head -8 | cut -c1-300 | sed 's/^/    /'
else
  echo "  node logs: no warnings or errors"
fi
