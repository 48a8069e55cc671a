# Shared by the interop scripts (source it after tests/cli/lib.sh): what the js peers
# need, and the processes a script starts, stopped by pid on exit.

# need_js WHAT [PACKAGE]: skips (exit 77) unless node >= 20.19 and tests/interop/node_modules
# (holding PACKAGE, e.g. @libp2p/kad-dht, when given) are there; `make setup` brings both.
need_js() {
  local what="$1" package="${2:-}" modules
  modules="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/node_modules"
  command -v node >/dev/null 2>&1 || skip "$what needs Node.js >= 20.19 ('node' is not installed; make setup)"
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
    skip "$what needs Node.js >= 20.19 (found $(node --version)); js-libp2p 3 does not run on older ones"
  [[ -d "$modules/$package" ]] ||
    skip "tests/interop/node_modules${package:+ (with $package)} is missing (run: npm ci --prefix tests/interop, or make setup)"
}

# Everything started here is recorded with track PID and stopped on exit (SIGTERM, then
# SIGKILL after 3 s). (A file, not a variable: sections run in subshells.)
PIDS_FILE="$TMP/pids"
: >"$PIDS_FILE"
track() { echo "$1" >>"$PIDS_FILE"; }
stop_all() {
  local p pids
  mapfile -t pids <"$PIDS_FILE"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do stop_node "$p" 3; done
}
on_exit stop_all

# bg_run OUT ERR LIMIT CMD...: runs CMD with stdout to OUT and stderr to ERR, killing it
# after LIMIT seconds; sets BG_RC.
bg_run() {
  local out="$1" err="$2" limit="$3"
  shift 3
  timeout -k 5 "$limit" "$@" >"$out" 2>"$err" </dev/null &
  local pid=$!
  track "$pid"
  BG_RC=0
  wait "$pid" || BG_RC=$?
}
