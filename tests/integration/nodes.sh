# Helpers for script tests that run several bzzz nodes on loopback. Source it after
# tests/cli/lib.sh:
#   source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"
#
# Node I has its data dir $NODE_ROOT/nI (NODE_ROOT defaults to $TMP; set it to keep
# sets of nodes apart), its log next to it (nI.log), and an API and libp2p port on
# loopback that it keeps across restarts. Every node is SIGKILLed when the test exits,
# subshells included (pids also go to a file).
#
#   NODE_SETTINGS=(--set k=v ...)  extra settings for the next start_node calls
#   start_node I [BOOTSTRAP...]    start node I (bootstrapping from those multiaddrs) and
#                                  wait until its API answers; sets IDS[I]
#   addr I                         node I's /ip4/127.0.0.1/tcp/P/p2p/ID
#   api I PATH                     GET on node I's API (body on stdout)
#   cli I ARGS...                  the bzzz CLI aimed at node I
#   graceful_stop I                SIGTERM; fails unless it exits 0 within 10 s
#   check_passes I CHECK           node I's health check CHECK passes now

declare -a PIDS=() APIS=() PORTS=() IDS=() NODE_SETTINGS=()
NODE_ROOT="${NODE_ROOT:-$TMP}"

_stop_all_nodes() {
  local pid
  [[ -f "$TMP/pids" ]] || return 0
  while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$TMP/pids"
  return 0
}
on_exit _stop_all_nodes

start_node() {
  local i="$1"
  shift
  local boot dir="$NODE_ROOT/n$i"
  boot="$(IFS=,; echo "$*")"
  [[ -n "${APIS[$i]:-}" ]] || APIS[$i]="$(free_port)"
  [[ -n "${PORTS[$i]:-}" ]] || PORTS[$i]="$(free_port)"
  mkdir -p "$dir"
  "$BZZZ_BIN" node --data "$dir" --listen "127.0.0.1:${APIS[$i]}" \
    --set "p2p.listen=/ip4/127.0.0.1/tcp/${PORTS[$i]}" --set "p2p.bootstrap=$boot" \
    "${NODE_SETTINGS[@]}" >>"$dir.log" 2>&1 &
  PIDS[$i]=$!
  echo "${PIDS[$i]}" >>"$TMP/pids"
  local t
  for ((t = 0; t < 100; t++)); do
    IDS[$i]="$(curl -s --max-time 2 "http://127.0.0.1:${APIS[$i]}/v1/peers" | jq -r .id 2>/dev/null || true)"
    [[ "${IDS[$i]}" == 12D3KooW* ]] && return 0
    alive "${PIDS[$i]}" || fail "node $i exited at start: $(tail -5 "$dir.log")"
    sleep 0.1
  done
  fail "node $i did not answer on its API: $(tail -5 "$dir.log")"
}

addr() { echo "/ip4/127.0.0.1/tcp/${PORTS[$1]}/p2p/${IDS[$1]}"; }
api() { curl -s --max-time 10 "http://127.0.0.1:${APIS[$1]}$2"; }
cli() {
  local i="$1"
  shift
  "$BZZZ_BIN" --data "$NODE_ROOT/n$i" --set "api.url=http://127.0.0.1:${APIS[$i]}" "$@"
}

graceful_stop() {
  local pid="${PIDS[$1]}" rc t
  kill -TERM "$pid"
  for ((t = 0; t < 100; t++)); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && fail "node $1 still running 10 s after SIGTERM"
  set +e
  wait "$pid"
  rc=$?
  set -e
  assert_eq "$rc" 0 "node $1's exit code after SIGTERM"
  PIDS[$1]=""
}

check_passes() { [[ "$(api "$1" /health/checks | jq -r --arg c "$2" '.checks[$c][0].status')" == pass ]]; }
