#!/usr/bin/env bash
# The node's HTTP API under malformed and hostile input (raw sockets, http_probe.py):
#   - malformed hashes (short, long, non-hex, CID garbage) -> 400 bad_hash on every route
#     that takes one; absent blobs -> 404; bad query parameters -> 400;
#   - %2F, %00 and broken %-escapes in the path -> 400; odd targets and non-HTTP bytes ->
#     a 4xx or a close; unknown routes -> 404; wrong methods -> 405 with an exact Allow;
#   - Range: malformed, reversed, past the end, several ranges, other units -> 416
#     bad_range with "Content-Range: bytes */SIZE"; good ranges -> 206 with the exact
#     bytes, for a packed blob, a raw file and a compressed file; ETag / If-None-Match ->
#     304 without a body; HEAD -> Content-Length and no body;
#   - headers over api.max_header -> 431; bodies over api.max_body -> 413, declared by
#     Content-Length or streamed chunked; no length -> 411; conflicting lengths -> 400;
#     a Transfer-Encoding that is not a final "chunked" -> 400/501 and a closed
#     connection, never the body run as the next request (smuggling);
#   - bodies cut short (half-close, close; Content-Length and chunked) -> 400 or a close;
#     a stalled body -> 408 or a close after about io_timeout; nothing stored, nothing
#     left in blobs/temp;
#   - slowloris: 50 connections dripping a header byte every 500 ms are cut near
#     header_timeout (2 s) while ordinary requests on fresh connections stay quick;
#     silent connections are closed after idle_timeout;
#   - pipelined requests are answered in order; one kept-alive connection carries
#     hundreds of requests (errors included); Connection: close and HTTP/1.0 close;
#   - past api.max_connections a connection gets 503 too_many_connections;
# and afterwards the node is ready, /v1/stats works, put/get round trips are
# byte-identical (b3sum agrees), SIGTERM stops it with exit 0 and verify is clean.
# Every error body is JSON {"error":{"code","message"}}.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd python3 curl b3sum cmp
PROBE="$(dirname "${BASH_SOURCE[0]}")/http_probe.py"
[[ -f "$PROBE" ]] || fail "missing $PROBE"

HEADER_TIMEOUT=2 IDLE_TIMEOUT=5 IO_TIMEOUT=2 MAX_BODY=1048576 MAX_HEADER=8192

node_log_tail() { printf '\n--- last lines of %s ---\n' "$NODE_LOG"; tail -n 40 "$NODE_LOG" 2>/dev/null; }

node_fail() { fail "$*$(node_log_tail)"; }

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" 2>/dev/null || true; }

# start_node DATA_DIR LOG [VAR=VALUE...]: runs `bzzz node` on a free port with the test's
# environment plus the given variables; sets NODE_PID, NODE_LOG, PORT, URL; returns once
# /health/ready answers 200 (up to 60 s).
start_node() {
  local data="$1" logf="$2" i code
  shift 2
  NODE_LOG="$logf"
  for _ in 1 2 3; do
    PORT="$(free_port)"
    URL="http://127.0.0.1:$PORT"
    env BZZZ_API_LISTEN="127.0.0.1:$PORT" BZZZ_HEALTH_INTERVAL=500ms \
      BZZZ_HEALTH_SHUTDOWN_ON_CRITICAL=false BZZZ_HEALTH_DISK_FAIL_FREE_BYTES=0 \
      BZZZ_HEALTH_DISK_FAIL_FREE=0 BZZZ_HEALTH_DISK_WARN_FREE=0 "$@" \
      "$BZZZ_BIN" --data "$data" node >"$logf" 2>&1 &
    NODE_PID=$!
    on_exit "stop_node $NODE_PID 10"
    for ((i = 0; i < 600; i++)); do
      code="$(http_code "$URL/health/ready")"
      [[ "$code" == 200 ]] && return 0
      alive "$NODE_PID" || break
      sleep 0.1
    done
    if ! alive "$NODE_PID" && grep -qi "bind" "$logf"; then
      log "  port $PORT was taken; trying another"
      continue
    fi
    kill -KILL "$NODE_PID" 2>/dev/null || true
    node_fail "the node did not become ready within 60 s (last /health/ready: $code)"
  done
  node_fail "the node could not bind a port in 3 attempts"
}

# probe SCENARIO [OPTIONS...]: runs one http_probe.py scenario against the node; on
# failure adds the node's log tail (and whether it still runs).
probe() {
  local scenario="$1" rc=0
  shift
  "$PY" "$PROBE" --port "$PORT" --data "$NODE_DATA" --max-body "$MAX_BODY" --max-header "$MAX_HEADER" \
    --header-timeout "$HEADER_TIMEOUT" --idle-timeout "$IDLE_TIMEOUT" --io-timeout "$IO_TIMEOUT" \
    "$@" "$scenario" || rc=$?
  if ((rc != 0)); then
    alive "$NODE_PID" || printf 'the node (pid %s) is no longer running\n' "$NODE_PID" >&2
    node_log_tail >&2
    return 1
  fi
  alive "$NODE_PID" || node_fail "the node died during the '$scenario' probe"
}

# ---------------------------------------------------------------------------------------
NODE_DATA="$DATA"
start_node "$NODE_DATA" "$TMP/node.log" \
  BZZZ_API_MAX_BODY=1MiB BZZZ_API_MAX_HEADER=8KiB BZZZ_API_HEADER_TIMEOUT=${HEADER_TIMEOUT}s \
  BZZZ_API_IDLE_TIMEOUT=${IDLE_TIMEOUT}s BZZZ_API_IO_TIMEOUT=${IO_TIMEOUT}s
log "node up at $URL (pid $NODE_PID)"

section "malformed hashes and query parameters" probe bad_hashes
section "bad %-escapes and odd request targets" probe bad_paths
section "unknown routes (404) and wrong methods (405 + Allow)" probe routes
section "Range: bad ones 416, good ones 206 with exact bytes" probe ranges
section "ETag and If-None-Match (304)" probe conditional
section "HEAD: Content-Length and no body" probe head
section "oversized headers (431)" probe header_limit
section "bodies declared too large by Content-Length (413)" probe body_limit_length
section "chunked bodies running over the limit (413)" probe body_limit_chunked
section "bodies cut short store nothing" probe truncated
section "missing and conflicting lengths (411, 400)" probe length_required
section "unknown and non-final Transfer-Encoding: 400/501, no smuggling" probe transfer_encoding
section "slowloris and silent connections" probe slowloris
section "pipelining" probe pipelining
section "keep-alive" probe keepalive

after_abuse() {
  local code doc i size src h out
  alive "$NODE_PID" || node_fail "the node is not running any more"
  code="$(http_code "$URL/health/ready")"
  [[ "$code" == 200 ]] || node_fail "/health/ready is $code after the bad input, expected 200: $(curl -s "$URL/health/checks")"
  doc="$(curl -sf --max-time 30 "$URL/v1/stats")" || node_fail "GET /v1/stats failed"
  [[ "$(json_field blobs <<<"$doc")" =~ ^[0-9]+$ ]] || node_fail "GET /v1/stats has no blob count: $doc"
  for size in 0 100 20000 900000; do
    src="$TMP/roundtrip-$size"
    make_random "$src" "$size"
    out="$(curl -sf --max-time 60 -X POST --data-binary "@$src" -H 'Content-Type: application/octet-stream' \
      "$URL/v1/blobs")" || node_fail "put of $size bytes failed"
    h="$(json_field hash <<<"$out")"
    assert_eq "$h" "$(b3 "$src")" "hash the node gave a $size-byte put vs b3sum"
    curl -sf --max-time 60 -o "$TMP/roundtrip.out" "$URL/v1/blobs/$h" || node_fail "get of the $size-byte blob failed"
    cmp -s "$TMP/roundtrip.out" "$src" || node_fail "the $size-byte blob came back different"
    # And chunked, from a pipe (no length known in advance).
    out="$(curl -sf --max-time 60 -X POST -H 'Transfer-Encoding: chunked' --data-binary @- "$URL/v1/blobs" <"$src")" ||
      node_fail "chunked put of $size bytes failed"
    assert_eq "$(json_field hash <<<"$out")" "$h" "chunked put of the same $size bytes"
  done
  grep -Eq "threw|gave no response" "$NODE_LOG" && node_fail "a handler threw or gave no response: $(grep -E 'threw|gave no response' "$NODE_LOG" | head -5)"
  log "  ready, stats work, put/get round trips are byte-identical"
}
section "after all that: ready, stats, byte-identical round trips" after_abuse

# ---------------------------------------------------------------------------------------
cap_test() {
  NODE_DATA="$TMP/data-cap"
  start_node "$NODE_DATA" "$TMP/node-cap.log" BZZZ_API_MAX_CONNECTIONS=4 BZZZ_API_IDLE_TIMEOUT=120s
  trap 'stop_node $NODE_PID 10' EXIT  # this section's subshell does not run the script's hooks
  probe conn_cap --cap 4
}
section "the connection cap (503 too_many_connections)" cap_test

# ---------------------------------------------------------------------------------------
log "SIGTERM stops the node cleanly after all that, and the store verifies"
NODE_LOG="$TMP/node.log"
stop_node "$NODE_PID" 60
alive "$NODE_PID" && node_fail "the node is still running 60 s after SIGTERM"
if wait "$NODE_PID"; then code=0; else code=$?; fi
[[ "$code" == 0 ]] || node_fail "the node exited $code on SIGTERM after the bad input"
check_clean "the store after the bad input"
leftover="$(find "$DATA/blobs/temp" -mindepth 1 2>/dev/null | head -5)"
[[ -z "$leftover" ]] || fail "blobs/temp still holds after the node stopped: $leftover"

finish_tests api_bad_input
