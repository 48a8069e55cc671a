#!/usr/bin/env bash
# `bzzz node` (what `make run` starts) opens the store, says it is ready, owns the data
# dir while it runs, and stops cleanly on SIGTERM; a second signal forces an exit.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_node() {
  : >"$TMP/node.log"  # else the last run's "ready" line could be read before this one starts
  BZZZ_API_LISTEN="127.0.0.1:$(free_port)" "$BZZZ_BIN" --data "$DATA" node >"$TMP/node.log" 2>&1 &
  NODE_PID=$!
  on_exit "kill -9 $NODE_PID 2>/dev/null || true"
  for _ in $(seq 100); do
    grep -q "ready" "$TMP/node.log" && return 0
    kill -0 "$NODE_PID" 2>/dev/null || fail "node exited early: $(cat "$TMP/node.log")"
    sleep 0.1
  done
  fail "node did not report ready within 10 s: $(cat "$TMP/node.log")"
}

wait_exit() {  # pid, seconds -> sets RC
  for _ in $(seq $(( $2 * 10 ))); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1" && RC=0 || RC=$?
      return 0
    fi
    sleep 0.1
  done
  fail "process $1 still running after $2 s"
}

log "a running node owns the data dir: an --offline put waits for its lock"
echo hello > "$TMP/f"
bz put "$TMP/f" >/dev/null
start_node
set +e
out=$("$BZZZ_BIN" --offline --data "$DATA" put "$TMP/f" 2>&1 &
      sleep 0.3; kill -TERM "$NODE_PID"; wait)
set -e

log "SIGTERM stops it cleanly with exit 0"
wait_exit "$NODE_PID" 5
[[ $RC -eq 0 ]] || fail "node exited $RC after SIGTERM: $(cat "$TMP/node.log")"
grep -q "stopped" "$TMP/node.log" || fail "no 'stopped' line in the node log"
# The put that waited for the lock ran once the node let go.
[[ "$out" == "$(b3sum --no-names "$TMP/f")" ]] || fail "a put waiting for the node's lock printed: $out"

log "the store is intact afterwards"
bz verify >/dev/null || fail "verify not clean after the node stopped"

log "a second SIGINT forces an exit"
start_node
kill -INT "$NODE_PID"; kill -INT "$NODE_PID"
wait_exit "$NODE_PID" 5
[[ $RC -eq 0 || $RC -eq 1 ]] || fail "node exited $RC on a double SIGINT"
log "PASS"
