#!/usr/bin/env bash
# libp2p benchmarks: the C++ stack against js-libp2p, on loopback, in the same run, C++
# and js alternating, median of RUNS each:
#   stream throughput     one /bzzz/sink/1.0.0 stream on an open connection, after a
#                         4 MiB warm-up stream; first byte to the sink's count
#                         (goal: C++ >= 5x js and >= 1 GB/s)
#   handshakes/s          sequential connect (TCP, multistream, Noise XX, yamux) until
#                         the remote's identify arrived, then disconnect
#   memory per idle conn  listener RSS with 10 warm-up + N idle connections (from N
#                         distinct identities, each until identify) minus RSS with the
#                         10, divided by N (lower is better)
# C++: a bzzz node (p2p.diagnostics on) is the listener, tests/tools/p2p_probe.cc
# (bzzz-p2p-probe bench / conns) the client; the memory figure comes from a fresh node
# each run. js: bench/js/throughput.mjs, js <-> js (its listener is a child process).
# Usage: bench/p2p.sh [BUILD_DIR]
#   P2P_BENCH_BYTES (C++ stream payload, 1073741824), P2P_BENCH_JS_MIB (js stream payload
#   in MiB, 256: the js bench's default; js is slower), P2P_BENCH_SECONDS (5 per
#   handshakes run), P2P_BENCH_CONNS (200), BENCH_RUNS (3) override.
# Needs Node >= 20.19 and tests/interop/node_modules (make setup) for the js side;
# without them it prints the C++ figures only.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bzzz
PROBE=$BUILD/bzzz-p2p-probe
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JS_BENCH=$ROOT/bench/js/throughput.mjs
BYTES=${P2P_BENCH_BYTES:-1073741824}
JS_MIB=${P2P_BENCH_JS_MIB:-256}
HS_S=${P2P_BENCH_SECONDS:-5}
CONNS=${P2P_BENCH_CONNS:-200}
RUNS=${BENCH_RUNS:-3}
WARM=10

die() { echo "bench: $*" >&2; exit 1; }
[[ -x $BIN ]] || die "$BIN missing (build it)"
[[ -x $PROBE ]] || die "$PROBE missing (build the bzzz-p2p-probe target)"
command -v curl >/dev/null || die "curl missing"
command -v jq >/dev/null || die "jq missing (make setup)"
command -v python3 >/dev/null || die "python3 missing (used to pick free ports)"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # stop PID, js_why
JS_WHY=$(js_why "$ROOT")  # empty when the js side can run

WORK=$(mktemp -d "${P2P_BENCH_DIR:-${TMPDIR:-/var/tmp}}/bzzz-p2p.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do stop "$p"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }
# med NAME JSON...: the median of a field over several JSON lines.
med() {
  local name=$1; shift
  for j in "$@"; do jq -r ".$name" <<<"$j"; done | sort -g | sed -n "$(( ($# + 1) / 2 ))p"
}
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
# spread NAME SCALE JSON...: "min-max" of a field over the runs, divided by SCALE.
spread() {
  local name=$1 scale=$2; shift 2
  local v
  v=$(for j in "$@"; do jq -r ".$name" <<<"$j"; done | sort -g)
  printf '%.0f-%.0f' "$(echo "$(head -n 1 <<<"$v") / $scale" | bc -l)" "$(echo "$(tail -n 1 <<<"$v") / $scale" | bc -l)"
}

# start_node NAME: a bzzz node with the diagnostic protocols on free ports; sets NODE_PID
# and NODE_ADDR (its /p2p multiaddr).
start_node() {
  local name=$1 p2p api url
  p2p=$(free_port)
  api=$(free_port)
  url=http://127.0.0.1:$api
  # (mDNS off: the other bench nodes of this run must not connect to this one by themselves.)
  BZZZ_API_LISTEN=127.0.0.1:$api BZZZ_MDNS_ENABLED=false "$BIN" node --data "$WORK/$name" --set p2p.diagnostics=true \
    --set "p2p.listen=/ip4/127.0.0.1/tcp/$p2p" --set "p2p.max_connections=$((CONNS + WARM + 50))" \
    >"$WORK/$name.log" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$url/v1/peers" 2>/dev/null && break
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  local id
  id=$(curl -fsS "$url/v1/peers" 2>/dev/null | jq -r .id) || { tail -20 "$WORK/$name.log" >&2; die "bzzz node $name did not start"; }
  NODE_ADDR=/ip4/127.0.0.1/tcp/$p2p/p2p/$id
}

# hold_conns TARGET COUNT TAG: starts `bzzz-p2p-probe conns` holding COUNT idle
# connections (until its stdin, a FIFO on fd HOLD_FD, is closed) and waits for "ready".
hold_conns() {
  local target=$1 count=$2 tag=$3 fifo=$WORK/$3.in pid
  mkfifo "$fifo"
  exec {HOLD_FD}<>"$fifo"
  "$PROBE" conns "$target" --count "$count" <"$fifo" >"$WORK/$tag.out" 2>"$WORK/$tag.err" {HOLD_FD}>&- &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 600); do
    grep -q '"ready"' "$WORK/$tag.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ $(jq -r .ready "$WORK/$tag.out" 2>/dev/null) == "$count" ]] ||
    die "conns $count: $(cat "$WORK/$tag.out" "$WORK/$tag.err")"
  HOLD_PID=$pid
}

# cpp_memory: one fresh node, WARM then CONNS idle connections; prints a JSON line.
cpp_memory() {
  start_node "mem$1"
  local node=$NODE_PID before after warm_fd warm_pid
  hold_conns "$NODE_ADDR" "$WARM" "warm$1"
  warm_fd=$HOLD_FD warm_pid=$HOLD_PID
  sleep 1
  before=$(rss_bytes "$node")
  hold_conns "$NODE_ADDR" "$CONNS" "conns$1"
  sleep 2  # let the node finish its side of identify, as the js bench does
  after=$(rss_bytes "$node")
  exec {warm_fd}>&- {HOLD_FD}>&-
  wait "$warm_pid" "$HOLD_PID" 2>/dev/null || true
  stop "$node"
  printf '{"bench":"idle_conn_memory","impl":"cpp","connections":%d,"bytes_per_conn":%d,"rss_before":%d,"rss_after":%d}\n' \
    "$CONNS" $(( (after - before) / CONNS )) "$before" "$after"
}

# --- runs --------------------------------------------------------------------------------------
echo "bzzz p2p benchmarks ($(nproc) cores; loopback TCP + Noise + yamux; median of $RUNS, C++ and js alternating)"
start_node cpp
CPP_NODE=$NODE_ADDR
CS=() CH=() CM=() JS=() JH=() JM=()
for run in $(seq "$RUNS"); do
  if [[ -z $JS_WHY ]]; then
    node "$JS_BENCH" --mib "$JS_MIB" --seconds "$HS_S" --connections "$CONNS" >"$WORK/js$run.out" 2>"$WORK/js$run.err" ||
      { tail -20 "$WORK/js$run.err" >&2; die "bench/js/throughput.mjs failed: $(cat "$WORK/js$run.out")"; }
    JS+=("$(grep '"stream_throughput"' "$WORK/js$run.out")")
    JH+=("$(grep '"handshakes"' "$WORK/js$run.out")")
    JM+=("$(grep '"idle_conn_memory"' "$WORK/js$run.out")")
  fi
  "$PROBE" bench "$CPP_NODE" --bytes "$BYTES" --handshakes-seconds "$HS_S" >"$WORK/cpp$run.out" 2>"$WORK/cpp$run.err" ||
    die "bzzz-p2p-probe bench failed: $(cat "$WORK/cpp$run.out" "$WORK/cpp$run.err")"
  CS+=("$(grep '"stream_throughput"' "$WORK/cpp$run.out")")
  CH+=("$(grep '"handshakes"' "$WORK/cpp$run.out")")
  cpp_memory "$run" >"$WORK/mem$run.out"  # (not in $(...): its processes are tracked here)
  CM+=("$(cat "$WORK/mem$run.out")")
done

# --- table ---------------------------------------------------------------------------------------
cs=$(med mib_per_s "${CS[@]}") ch=$(med per_s "${CH[@]}") cm=$(med bytes_per_conn "${CM[@]}")
gb_mib=$(echo "1000000000 / 1048576" | bc -l)
if [[ -z $JS_WHY ]]; then
  js=$(med mib_per_s "${JS[@]}") jh=$(med per_s "${JH[@]}") jm=$(med bytes_per_conn "${JM[@]}")
  echo "  C++: bzzz node (listener) <- bzzz-p2p-probe; js: js-libp2p $(jq -r .version "$ROOT/tests/interop/node_modules/libp2p/package.json") <-> js-libp2p, node $(node --version)"
  printf '                       %-26s %-26s %s\n' 'C++ (runs: min-max)' 'js (runs: min-max)' 'C++/js'
  speed=$(ratio "$cs" "$js")
  met='met'
  if (( $(echo "$speed < 5" | bc -l) )) || (( $(echo "$cs < $gb_mib" | bc -l) )); then met='NOT met'; fi
  printf 'stream throughput      %-26s %-26s %-7s goal >= 5x js and >= 1 GB/s (%.0f MiB/s): %s\n' \
    "$(printf '%.0f MiB/s (%s)' "$cs" "$(spread mib_per_s 1 "${CS[@]}")")" \
    "$(printf '%.0f MiB/s (%s)' "$js" "$(spread mib_per_s 1 "${JS[@]}")")" "${speed}x" "$gb_mib" "$met"
  printf 'handshakes             %-26s %-26s %s\n' \
    "$(printf '%.0f /s (%s)' "$ch" "$(spread per_s 1 "${CH[@]}")")" \
    "$(printf '%.0f /s (%s)' "$jh" "$(spread per_s 1 "${JH[@]}")")" "$(ratio "$ch" "$jh")x"
  printf 'idle conn memory       %-26s %-26s %-7s RSS per connection, %d connections (lower is better)\n' \
    "$(printf '%.0f KiB (%s)' "$(echo "$cm / 1024" | bc -l)" "$(spread bytes_per_conn 1024 "${CM[@]}")")" \
    "$(printf '%.0f KiB (%s)' "$(echo "$jm / 1024" | bc -l)" "$(spread bytes_per_conn 1024 "${JM[@]}")")" \
    "$(ratio "$cm" "$jm")" "$CONNS"
else
  echo "  C++: bzzz node (listener) <- bzzz-p2p-probe; js side skipped: $JS_WHY"
  met='met'
  if (( $(echo "$cs < $gb_mib" | bc -l) )); then met='NOT met'; fi
  printf 'stream throughput      %.0f MiB/s   goal >= 1 GB/s (%.0f MiB/s): %s (the 5x js part needs the js side)\n' "$cs" "$gb_mib" "$met"
  printf 'handshakes             %.0f /s\n' "$ch"
  printf 'idle conn memory       %.0f KiB per connection (%d connections)\n' "$(echo "$cm / 1024" | bc -l)" "$CONNS"
fi
