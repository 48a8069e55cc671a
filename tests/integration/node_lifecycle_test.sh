#!/usr/bin/env bash
# The node's lifecycle seen from outside: readiness, the CLI through the API, the state
# dump, and what each way of stopping it does to uploads in flight.
#
# Sections (each with a data dir, a port and a node of its own):
#   api and SIGQUIT      /health/ready turns 200 with status "pass"; `bzzz put` and
#                        `bzzz get` with BZZZ_API_LISTEN go through the API (the node's
#                        /metrics counts the POST and the GET) and agree with b3sum;
#                        SIGQUIT logs a state dump and the node keeps answering.
#   graceful SIGTERM     20 concurrent 50 MiB uploads (curl --limit-rate, some fast, most
#                        slow), SIGTERM while they run: every curl ends, the node exits 0
#                        within its 20 s deadline, each upload got 201 with b3sum's hash
#                        or failed cleanly (never a hang, never a wrong hash; and with a
#                        clean exit, never a dropped connection: 201, or 503 if it came
#                        late); a new upload after the signal is not accepted; offline,
#                        every 201'd blob reads back byte-identical and verify is clean.
#   deadline             uploads that cannot finish within BZZZ_NODE_SHUTDOWN_TIMEOUT are
#                        cut off: the node exits 1 soon after the deadline, logs "deadline
#                        reached", the uploads fail, and the store verifies clean offline.
#   drain delay          with BZZZ_NODE_DRAIN_DELAY, after SIGTERM /health/ready answers
#                        503 while the listener still serves, then connections are refused,
#                        and the process exits 0.
#   second signal        SIGTERM twice 300 ms apart while uploads cannot finish: the node
#                        exits at once with a non-zero code and logs "second signal"; the
#                        store it left verifies clean offline.
#   SIGKILL              kill -9 during 10 concurrent 20 MiB uploads: every upload that got
#                        201 before the kill reads back offline, verify is clean, the next
#                        open empties blobs/temp, and a node restarted on the dir serves it.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd b3sum cmp curl python3 jq timeout

# The caller's node settings must not leak in either (BZZZ_API_URL would send the CLI
# elsewhere); each command below is given exactly what it needs. lib.sh's
# BZZZ_MDNS_ENABLED=false (no discovery of other tests' nodes) and BZZZ_P2P_LISTEN
# (a free loopback port, not 0.0.0.0:9000, which another test or node may hold) stay.
while read -r _v; do
  case "$_v" in BZZZ_BIN | BZZZ_SOURCE_DIR | BZZZ_MDNS_ENABLED | BZZZ_P2P_LISTEN) ;; *) unset "$_v" ;; esac
done < <(compgen -e | grep '^BZZZ_' || true)

MiB=1048576
T0=$SECONDS
mkdir -p "$TMP/in"

# 1.2 GiB of source files and about as much stored.
avail_kib="$(df -Pk "$TMP" | awk 'NR == 2 {print $4}')"
((avail_kib > 4 * 1024 * 1024)) || skip "this test needs 4 GiB free under ${TMPDIR:-/tmp} (has $((avail_kib / 1024)) MiB)"

# ---------------------------------------------------------------------------------------
# Processes. Every node and curl a section starts is recorded in $TMP/pids; whatever is
# still alive when a section (a subshell) or the script ends is killed by its id.
PIDS_FILE="$TMP/pids"
: >"$PIDS_FILE"
track() { echo "$1" >>"$PIDS_FILE"; }
kill_tracked() {
  local p
  while read -r p; do
    if [[ -n "$p" ]]; then kill -9 "$p" 2>/dev/null || true; fi
  done <"$PIDS_FILE"
  : >"$PIDS_FILE"
  return 0
}
on_exit kill_tracked

# (The system python when there is one: a pyenv shim takes a second or more to start.)

now_ms() { date +%s%3N; }

# node_tail: the end of the current node's log, for failure messages.
node_tail() {
  printf '\n---- node log (%s, last 40 lines) ----\n' "${NODE_LOG:-?}"
  tail -n 40 "${NODE_LOG:-/dev/null}" 2>/dev/null || true
  printf -- '---- end of node log ----'
}
node_fail() { fail "$* $(node_tail)"; }

# start_node DIR LOG [VAR=VALUE...]: starts `bzzz node` on DIR with the API on a free
# port; sets NODE_PID, NODE_LOG, PORT and URL. Waits for nothing (see wait_ready).
start_node() {
  local dir="$1"
  NODE_LOG="$2"
  shift 2
  for _ in 1 2 3; do
    PORT="$(free_port)"
    URL="http://127.0.0.1:$PORT"
    env BZZZ_API_LISTEN="127.0.0.1:$PORT" BZZZ_HEALTH_INTERVAL=1s BZZZ_LOG_FORMAT=text "$@" \
      "$BZZZ_BIN" --data "$dir" node >"$NODE_LOG" 2>&1 &
    NODE_PID=$!
    track "$NODE_PID"
    # Another process may take the port between free_port and the bind: then try
    # another. Anything else is for wait_ready to judge.
    local start=$SECONDS
    while ((SECONDS - start < 15)) && kill -0 "$NODE_PID" 2>/dev/null; do
      grep -qs "listening" "$NODE_LOG" && return 0
      sleep 0.1
    done
    if ! kill -0 "$NODE_PID" 2>/dev/null && grep -qsi "bind" "$NODE_LOG"; then
      wait "$NODE_PID" 2>/dev/null || true
      log "  (port $PORT was taken; trying another)"
      continue
    fi
    return 0
  done
  node_fail "the node could not bind a free port in 3 attempts"
}

# http_code URL [CURL ARGS...]: prints the HTTP status (000 when nothing answered).
http_code() {
  local url="$1"
  shift
  curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$@" "$url" 2>/dev/null || true
}

# wait_ready [SECONDS]: polls /health/ready until it answers 200 with status "pass", or
# "warn" where the only warnings are a lone node's: no peers connected (p2p) and an
# empty DHT routing table.
wait_ready() {
  local limit="${1:-30}" start=$SECONDS code status="" body="$TMP/.ready.body"
  while ((SECONDS - start < limit)); do
    kill -0 "$NODE_PID" 2>/dev/null || node_fail "the node exited before it was ready"
    code="$(curl -sS --max-time 5 -o "$body" -w '%{http_code}' "$URL/health/ready" 2>/dev/null || true)"
    if [[ "$code" == 200 ]]; then
      status="$(jq -r .status <"$body" 2>/dev/null || true)"
      [[ "$status" == pass ]] && return 0
      if [[ "$status" == warn ]] &&
        [[ -z "$(jq -r '.checks | to_entries[] | select(.value[0].status != "pass") | .key
            | select(. != "p2p:connections" and . != "dht:routing")' <"$body")" ]]; then
        return 0
      fi
    fi
    sleep 0.2
  done
  node_fail "/health/ready did not answer 200 with status \"pass\" (or a lone node's warn) within ${limit} s (last: HTTP $code, status '$status', body: $(head -c 500 "$body" 2>/dev/null))"
}

# wait_pid PID SECONDS: waits for a child to end; sets WAIT_RC (its exit status) and
# WAIT_MS (how long the wait took). Returns 1 if it is still running after SECONDS.
wait_pid() {
  local pid="$1" limit_ms=$(($2 * 1000)) start
  start="$(now_ms)"
  while kill -0 "$pid" 2>/dev/null; do
    if (($(now_ms) - start > limit_ms)); then
      return 1
    fi
    sleep 0.05
  done
  WAIT_RC=0
  wait "$pid" 2>/dev/null || WAIT_RC=$?
  WAIT_MS=$(($(now_ms) - start))
  return 0
}

# wait_node_exit SECONDS DESC: the node ends within SECONDS; sets NODE_RC.
wait_node_exit() {
  wait_pid "$NODE_PID" "$1" || node_fail "$2: the node (pid $NODE_PID) is still running after $1 s"
  NODE_RC=$WAIT_RC
}

# metric_sum NAME LABEL...: the sum of the samples of NAME whose labels include every
# LABEL (e.g. 'method="POST"'), from the current node's /metrics.
metric_sum() {
  local name="$1" text label
  shift
  text="$(curl -sS --max-time 10 "$URL/metrics")" || node_fail "GET /metrics failed"
  text="$(awk -v p="$name{" 'index($0, p) == 1' <<<"$text")"
  for label in "$@"; do
    text="$(grep -F -- "$label" <<<"$text" || true)"
  done
  awk '$1 ~ /[{]/ {s += $NF} END {printf "%d\n", s}' <<<"$text"
}

# start_upload IDX FILE RATE OUT: a background curl POSTing FILE to /v1/blobs; its
# status code goes to OUT.code, its body to OUT.body, its stderr to OUT.err. Appends
# its pid to UP_PIDS.
start_upload() {
  local file="$2" rate="$3" out="$4"
  curl -sS --max-time 180 -X POST -T "$file" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    --limit-rate "$rate" -o "$out.body" -w '%{http_code}' "$URL/v1/blobs" >"$out.code" 2>"$out.err" &
  UP_PIDS[$1]=$!
  track "${UP_PIDS[$1]}"
}

# stuck_uploads N DIR: starts N uploads of 50 MiB at 1 MiB/s (50 s each: far beyond
# any deadline here) and returns once the node holds all their connections.
stuck_uploads() {
  local n="$1" dir="$2" i open start
  mkdir -p "$dir"
  for ((i = 0; i < n; i++)); do
    start_upload "$i" "${BIG[$i]}" 1M "$dir/$i"
  done
  start=$SECONDS
  while :; do
    open="$(metric_sum bzzz_http_open_connections)"
    ((open > n)) && break # the scrape's own connection counts too
    ((SECONDS - start < 15)) || node_fail "only $open connections open 15 s after starting $n uploads"
    sleep 0.2
  done
}

# none_acknowledged N DIR: none of the uploads stuck_uploads started got a 201.
none_acknowledged() {
  local n="$1" dir="$2" i
  for ((i = 0; i < n; i++)); do
    [[ "$(cat "$dir/$i.code")" != 201 ]] ||
      node_fail "upload $i of 50 MiB at 1 MiB/s got 201 within seconds"
  done
}

# running_uploads: how many of UP_PIDS are still running.
running_uploads() {
  local p n=0
  for p in "${UP_PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then n=$((n + 1)); fi
  done
  echo "$n"
}

# wait_uploads SECONDS DESC: every upload curl ends within SECONDS (all together);
# UP_RC[i] gets each one's exit code.
wait_uploads() {
  local limit="$1" desc="$2" i start=$SECONDS left
  UP_RC=()
  for i in "${!UP_PIDS[@]}"; do
    left=$((limit - (SECONDS - start)))
    ((left > 0)) || left=1
    wait_pid "${UP_PIDS[$i]}" "$left" ||
      node_fail "$desc: upload $i (curl pid ${UP_PIDS[$i]}) still running after $limit s: it hangs"
    UP_RC[i]=$WAIT_RC
  done
}

# check_upload IDX FILE HASH OUT: classifies one finished upload into UP_RES: "ok" (201,
# which must carry the file's hash and size) or "failed:<why>".
check_upload() {
  local i="$1" file="$2" want="$3" out="$4" code got size
  code="$(cat "$out.code" 2>/dev/null || true)"
  if [[ "$code" == 201 ]]; then
    got="$(jq -r .hash <"$out.body" 2>/dev/null || true)"
    size="$(jq -r .size <"$out.body" 2>/dev/null || true)"
    [[ "$got" == "$want" ]] ||
      node_fail "upload $i got 201 with hash '$got', but b3sum of $file is $want (body: $(head -c 500 "$out.body"))"
    [[ "$size" == "$(file_size "$file")" ]] ||
      node_fail "upload $i got 201 with size '$size', the file has $(file_size "$file") bytes"
    UP_RES=ok
  else
    UP_RES="failed:http=${code:-none},curl=${UP_RC[$i]:-?}"
  fi
}

# code_summary DIR: "201 x17, 000 x3" from the uploads' DIR/*.code files.
code_summary() {
  local f
  for f in "$1"/*.code; do
    printf '%s\n' "$(cat "$f")"
  done | sort | uniq -c | sort -rn | awk '{printf "%s%s x%s", sep, $2, $1; sep = ", "}'
}

# offline CMD...: the CLI on the data dir $DATA, never through a node.
offline() { timeout 300 "$BZZZ_BIN" --offline --data "$DATA" "$@"; }

# check_offline_store DESC: verify clean, blobs/temp emptied by the open.
check_offline_store() {
  local desc="$1"
  run offline verify
  [[ "$RUN_RC" == 0 ]] || fail "$desc: bzzz --offline verify should exit 0, got $(run_dump)"
  assert_contains "$RUN_OUT" "0 bad, 0 missing, 0 orphaned" "$desc: verify summary"
  assert_contains "$RUN_OUT" "store is clean" "$desc: verify summary"
  run offline stats
  [[ "$RUN_RC" == 0 ]] || fail "$desc: bzzz --offline stats failed: $(run_dump)"
  local left
  left="$(find "$DATA/blobs/temp" -mindepth 1 2>/dev/null | head -5)"
  [[ -z "$left" ]] || fail "$desc: blobs/temp not emptied by an open of the store: $left"
}

# reads_back_offline HASH FILE DESC
reads_back_offline() {
  local rc=0
  offline get "$1" 2>"$TMP/.get.err" | cmp -s - "$2" || rc=$?
  if ((rc != 0)); then
    rc=0
    offline get "$1" >/dev/null 2>"$TMP/.get.err" ||
      fail "$3: bzzz --offline get $1 failed: $(cat "$TMP/.get.err")"
    fail "$3: bzzz --offline get $1 returned bytes that differ from $2"
  fi
}

# ---------------------------------------------------------------------------------------
log "making source files (20 x 50 MiB, 10 x 20 MiB, random)"
declare -a BIG=() BIG_HASH=() MID=() MID_HASH=()
for i in $(seq 0 19); do
  BIG+=("$TMP/in/big-$i")
  make_random "$TMP/in/big-$i" $((50 * MiB))
done
for i in $(seq 0 9); do
  MID+=("$TMP/in/mid-$i")
  make_random "$TMP/in/mid-$i" $((20 * MiB))
done
mapfile -t BIG_HASH < <(b3sum --no-names -- "${BIG[@]}")
mapfile -t MID_HASH < <(b3sum --no-names -- "${MID[@]}")
((${#BIG_HASH[@]} == 20 && ${#MID_HASH[@]} == 10)) || fail "b3sum of the source files failed"
log "  done in $((SECONDS - T0)) s"

# ---------------------------------------------------------------------------------------
test_api_and_sigquit() {
  trap kill_tracked EXIT
  DATA="$TMP/data-api"
  start_node "$DATA" "$TMP/node-api.log"
  wait_ready 30
  local ctype
  ctype="$(curl -sS --max-time 5 -o /dev/null -w '%{content_type}' "$URL/health/ready")"
  assert_contains "$ctype" "application/health+json" "Content-Type of /health/ready"
  assert_eq "$(http_code "$URL/health/live")" 200 "/health/live while running"
  run curl -sS --max-time 5 "$URL/v1/status"
  [[ "$RUN_RC" == 0 ]] || node_fail "GET /v1/status failed: $(run_dump)"
  assert_eq "$(jq -r .ready <<<"$RUN_OUT")" true "/v1/status ready while running"

  local cli=(timeout 120 env BZZZ_API_LISTEN="127.0.0.1:$PORT" "$BZZZ_BIN" --data "$DATA")
  local posts_before gets_before small="$TMP/in/api-small" h hs
  make_random "$small" 1000
  posts_before="$(metric_sum bzzz_http_requests_total 'route="/v1/blobs"' 'method="POST"' 'code="201"')"
  gets_before="$(metric_sum bzzz_http_requests_total 'route="/v1/blobs/{hash}"' 'method="GET"')"

  # A large file (streamed) and a small one (packed).
  run "${cli[@]}" put "${MID[0]}"
  [[ "$RUN_RC" == 0 ]] || node_fail "bzzz put ${MID[0]} with a node running: $(run_dump)"
  h="$RUN_OUT"
  assert_eq "$h" "${MID_HASH[0]}" "bzzz put through the API: hash vs b3sum"
  run "${cli[@]}" put "$small"
  [[ "$RUN_RC" == 0 ]] || node_fail "bzzz put $small with a node running: $(run_dump)"
  hs="$RUN_OUT"
  assert_eq "$hs" "$(b3 "$small")" "bzzz put (small) through the API: hash vs b3sum"
  local posts_after
  posts_after="$(metric_sum bzzz_http_requests_total 'route="/v1/blobs"' 'method="POST"' 'code="201"')"
  ((posts_after >= posts_before + 2)) ||
    node_fail "bzzz put did not go through the API: /metrics counts $posts_before POST /v1/blobs 201 before the two puts and $posts_after after"

  "${cli[@]}" get "$h" >"$TMP/api.get" 2>"$TMP/api.get.err" ||
    node_fail "bzzz get $h with a node running failed: $(cat "$TMP/api.get.err")"
  cmp -s "$TMP/api.get" "${MID[0]}" || node_fail "bzzz get $h through the API returned different bytes"
  "${cli[@]}" get "$hs" >"$TMP/api.get" 2>"$TMP/api.get.err" ||
    node_fail "bzzz get $hs with a node running failed: $(cat "$TMP/api.get.err")"
  cmp -s "$TMP/api.get" "$small" || node_fail "bzzz get $hs (small) through the API returned different bytes"
  local gets_after
  gets_after="$(metric_sum bzzz_http_requests_total 'route="/v1/blobs/{hash}"' 'method="GET"')"
  ((gets_after >= gets_before + 2)) ||
    node_fail "bzzz get did not go through the API: /metrics counts $gets_before GET /v1/blobs/{hash} before and $gets_after after"
  run "${cli[@]}" --json stat "$h"
  [[ "$RUN_RC" == 0 ]] || node_fail "bzzz stat $h with a node running: $(run_dump)"
  assert_eq "$(jq -r .size <<<"$RUN_OUT")" "$(file_size "${MID[0]}")" "bzzz stat through the API: size"
  # And plain HTTP agrees.
  curl -sS --max-time 30 -o "$TMP/api.get" "$URL/v1/blobs/$h" || node_fail "curl GET /v1/blobs/$h failed"
  cmp -s "$TMP/api.get" "${MID[0]}" || node_fail "GET /v1/blobs/$h returned different bytes"
  rm -f "$TMP/api.get"
  log "  put/get/stat through the API agree with b3sum; /metrics counted them"

  local dumps
  dumps="$(grep -c "state dump" "$NODE_LOG" || true)"
  kill -QUIT "$NODE_PID"
  local start=$SECONDS
  until (($(grep -c "state dump" "$NODE_LOG" || true) > dumps)); do
    ((SECONDS - start < 15)) || node_fail "no 'state dump' line in the log within 15 s of SIGQUIT"
    kill -0 "$NODE_PID" 2>/dev/null || node_fail "the node exited on SIGQUIT"
    sleep 0.1
  done
  grep -q "component api: running" "$NODE_LOG" || node_fail "the state dump does not list the api component as running"
  sleep 0.3
  kill -0 "$NODE_PID" 2>/dev/null || node_fail "the node exited after SIGQUIT"
  assert_eq "$(http_code "$URL/health/live")" 200 "/health/live after SIGQUIT"
  assert_eq "$(http_code "$URL/health/ready")" 200 "/health/ready after SIGQUIT"
  "${cli[@]}" get "$hs" 2>/dev/null | cmp -s - "$small" || node_fail "bzzz get after SIGQUIT returned different bytes"
  log "  SIGQUIT logged a state dump; the node still answers"

  kill -TERM "$NODE_PID"
  wait_node_exit 30 "SIGTERM of an idle node"
  [[ "$NODE_RC" == 0 ]] || node_fail "an idle node exited $NODE_RC after SIGTERM"
  grep -q "stopped" "$NODE_LOG" || node_fail "no 'stopped' line in the log"
  reads_back_offline "$h" "${MID[0]}" "after the node stopped"
  check_offline_store "after the node stopped"
}

# ---------------------------------------------------------------------------------------
test_graceful_sigterm() {
  trap kill_tracked EXIT
  DATA="$TMP/data-term"
  local deadline_s=20 n=20 i rate
  start_node "$DATA" "$TMP/node-term.log" BZZZ_NODE_SHUTDOWN_TIMEOUT=${deadline_s}s
  wait_ready 30
  mkdir -p "$TMP/up-term"
  declare -a UP_PIDS=() UP_RC=()
  # A few fast uploads that should be done before the signal; the rest (6 MiB/s, about
  # 8 s for 50 MiB; 17 of them take less than the node ingests) still running when it
  # comes, and finished well before the deadline.
  for ((i = 0; i < n; i++)); do
    if ((i < 3)); then rate=1G; else rate=6M; fi
    start_upload "$i" "${BIG[$i]}" "$rate" "$TMP/up-term/$i"
  done
  # The signal: once at least one upload is done and at least 1 s has passed (or after
  # 10 s at the latest), as long as some are still running.
  local start_ms running
  start_ms="$(now_ms)"
  while :; do
    running="$(running_uploads)"
    if ((running < n && $(now_ms) - start_ms >= 1000)) || (($(now_ms) - start_ms >= 10000)); then break; fi
    sleep 0.05
  done
  kill -0 "$NODE_PID" 2>/dev/null || node_fail "the node died during the uploads"
  local sent_ms
  sent_ms="$(now_ms)"
  kill -TERM "$NODE_PID"
  log "  SIGTERM after $((sent_ms - start_ms)) ms with $running of $n uploads still running"
  ((running > 0)) || log "  (note: every upload finished before the signal; the machine was faster than the rate limits assume)"

  # A new upload once the node stops accepting: refused, or answered 503; never stored.
  sleep 0.3
  local late_code=""
  if kill -0 "$NODE_PID" 2>/dev/null; then
    late_code="$(curl -sS --max-time 10 -X POST --data-binary "late upload" -o "$TMP/late.body" -w '%{http_code}' \
      "$URL/v1/blobs" 2>/dev/null || true)"
    [[ "$late_code" != 201 ]] || node_fail "an upload started 300 ms after SIGTERM was accepted (201)"
    log "  an upload started after the signal got: HTTP ${late_code:-000}"
  fi

  wait_uploads $((deadline_s + 30)) "after SIGTERM"
  wait_node_exit $((deadline_s + 15)) "graceful shutdown with uploads in flight"
  local took_ms=$(($(now_ms) - sent_ms))
  [[ "$NODE_RC" == 0 ]] ||
    node_fail "the node exited $NODE_RC after SIGTERM with uploads in flight (want 0: every upload could finish within ${deadline_s} s)"
  grep -q "stopped" "$NODE_LOG" || node_fail "no 'stopped' line in the log"
  log "  node exited 0, $took_ms ms after SIGTERM"

  # Each upload: 201 with b3sum's hash, or a clean failure. With a clean exit (nothing
  # cut off at the deadline), every upload got an answer: a 201, or a 503 if its request
  # only arrived once the node was draining; never a dropped connection.
  local ok=0 failed=0 res
  declare -a GOOD=()
  for ((i = 0; i < n; i++)); do
    check_upload "$i" "${BIG[$i]}" "${BIG_HASH[$i]}" "$TMP/up-term/$i"
    res="$UP_RES"
    if [[ "$res" == ok ]]; then
      ok=$((ok + 1))
      GOOD+=("$i")
    else
      failed=$((failed + 1))
      log "  upload $i: $res: $(head -c 300 "$TMP/up-term/$i.err") $(head -c 300 "$TMP/up-term/$i.body" 2>/dev/null)"
      [[ "$(cat "$TMP/up-term/$i.code")" == 503 ]] ||
        node_fail "upload $i was cut off ($res) although the node exited 0 (nothing abandoned)"
    fi
  done
  log "  uploads: $ok got 201 with the right hash, $failed failed cleanly; HTTP codes: $(code_summary "$TMP/up-term")"

  for i in "${GOOD[@]}"; do
    reads_back_offline "${BIG_HASH[$i]}" "${BIG[$i]}" "after the graceful shutdown (upload $i)"
  done
  check_offline_store "after the graceful shutdown"
  # Nothing but our uploads is stored, and at least every acknowledged one.
  local listed count
  listed="$(offline ls | awk '{print $1}')"
  count="$(grep -c . <<<"$listed" || true)"
  ((count >= ok && count <= n)) || fail "after the graceful shutdown: $count blobs stored, $ok uploads acknowledged of $n"
  local hh
  for hh in $listed; do
    printf '%s\n' "${BIG_HASH[@]}" | grep -qx "$hh" || fail "after the graceful shutdown: ls lists $hh, which no upload sent"
  done
  log "  ${#GOOD[@]} acknowledged blobs read back offline; verify clean"
}

# ---------------------------------------------------------------------------------------
test_deadline() {
  trap kill_tracked EXIT
  DATA="$TMP/data-deadline"
  local n=3
  start_node "$DATA" "$TMP/node-deadline.log" BZZZ_NODE_SHUTDOWN_TIMEOUT=2s
  wait_ready 30
  declare -a UP_PIDS=() UP_RC=()
  stuck_uploads "$n" "$TMP/up-deadline"
  kill -TERM "$NODE_PID"
  wait_node_exit 12 "shutdown past a 2 s deadline"
  log "  node exited $NODE_RC, $WAIT_MS ms after SIGTERM"
  assert_eq "$NODE_RC" 1 "exit code when uploads had to be cut off at the deadline"
  grep -q "deadline reached" "$NODE_LOG" || node_fail "no 'deadline reached' line in the log"
  wait_uploads 30 "after the deadline"
  none_acknowledged "$n" "$TMP/up-deadline"
  check_offline_store "after uploads were cut off at the deadline"
  assert_eq "$(offline ls | grep -c . || true)" 0 "blobs stored from uploads cut off at the deadline"
}

# ---------------------------------------------------------------------------------------
test_drain_delay() {
  trap kill_tracked EXIT
  DATA="$TMP/data-drain"
  start_node "$DATA" "$TMP/node-drain.log" BZZZ_NODE_DRAIN_DELAY=3s BZZZ_NODE_SHUTDOWN_TIMEOUT=20s
  wait_ready 30
  kill -TERM "$NODE_PID"
  local start_ms code drain_code="" saw_503=0 served_during=0 refused=0 status_ready=""
  printf 'an upload during the drain delay' >"$TMP/drain.src"
  start_ms="$(now_ms)"
  # During the drain delay: readiness 503 while the listener still answers, and ordinary
  # requests are still served. Then the listener closes.
  while (($(now_ms) - start_ms < 25000)); do
    code="$(http_code "$URL/health/ready")"
    if [[ "$code" == 503 ]]; then
      if ((saw_503 == 0)); then
        saw_503=1
        # Still serving while not ready: a small upload and /v1/status.
        drain_code="$(curl -sS --max-time 10 -X POST --data-binary @"$TMP/drain.src" -o "$TMP/drain.body" \
          -w '%{http_code}' "$URL/v1/blobs" 2>/dev/null || true)"
        if [[ "$drain_code" == 201 ]]; then served_during=1; fi
        status_ready="$(curl -sS --max-time 5 "$URL/v1/status" 2>/dev/null | jq -r .ready 2>/dev/null || true)"
      fi
    elif [[ "$code" == 000 ]]; then
      refused=1
      break
    elif [[ "$code" != 200 ]]; then
      node_fail "/health/ready answered $code during the drain"
    fi
    sleep 0.1
  done
  ((saw_503)) || node_fail "/health/ready never answered 503 after SIGTERM (with a 3 s drain delay)"
  ((refused)) || node_fail "the listener still answered 25 s after SIGTERM"
  log "  after SIGTERM: /health/ready 503 while listening, then refused after $(($(now_ms) - start_ms)) ms"
  ((served_during)) || node_fail "an upload during the drain delay was not served (got HTTP ${drain_code:-000})"
  assert_eq "$status_ready" false "/v1/status ready during the drain delay"
  wait_node_exit 30 "shutdown with a drain delay"
  [[ "$NODE_RC" == 0 ]] || node_fail "the node exited $NODE_RC after SIGTERM with a drain delay"
  local h
  h="$(jq -r .hash <"$TMP/drain.body")"
  assert_eq "$h" "$(b3 "$TMP/drain.src")" "hash of the upload served during the drain delay"
  reads_back_offline "$h" "$TMP/drain.src" "upload served during the drain delay"
}

# ---------------------------------------------------------------------------------------
test_second_signal() {
  trap kill_tracked EXIT
  DATA="$TMP/data-second"
  local n=5
  start_node "$DATA" "$TMP/node-second.log" BZZZ_NODE_SHUTDOWN_TIMEOUT=30s
  wait_ready 30
  declare -a UP_PIDS=() UP_RC=()
  stuck_uploads "$n" "$TMP/up-second"
  sleep 0.5
  kill -TERM "$NODE_PID"
  sleep 0.3
  kill -0 "$NODE_PID" 2>/dev/null || node_fail "the node exited within 300 ms of the first SIGTERM with $n uploads that could not finish"
  kill -TERM "$NODE_PID"
  wait_pid "$NODE_PID" 3 || node_fail "the node was still running 3 s after the second SIGTERM"
  NODE_RC=$WAIT_RC
  log "  second SIGTERM: node exited $NODE_RC after $WAIT_MS ms"
  [[ "$NODE_RC" != 0 ]] || node_fail "the node exited 0 on a second signal (should be non-zero: the shutdown was cut short)"
  grep -q "second signal" "$NODE_LOG" || node_fail "no 'second signal' line in the log"
  # The uploads end (their connection is gone), none acknowledged.
  wait_uploads 30 "after the second signal"
  none_acknowledged "$n" "$TMP/up-second"
  # The store it left behind is like one after a crash: recovered by the next open.
  check_offline_store "after a forced exit"
}

# ---------------------------------------------------------------------------------------
test_sigkill() {
  trap kill_tracked EXIT
  DATA="$TMP/data-kill"
  local n=10 i rate
  start_node "$DATA" "$TMP/node-kill.log"
  wait_ready 30
  declare -a UP_PIDS=() UP_RC=()
  mkdir -p "$TMP/up-kill"
  # A few finish before the kill, the rest (3 MiB/s: 7 s each) are cut off.
  for ((i = 0; i < n; i++)); do
    if ((i < 3)); then rate=1G; else rate=3M; fi
    start_upload "$i" "${MID[$i]}" "$rate" "$TMP/up-kill/$i"
  done
  local start_ms running
  start_ms="$(now_ms)"
  while :; do
    running="$(running_uploads)"
    if ((running < n && $(now_ms) - start_ms >= 1000)) || (($(now_ms) - start_ms >= 10000)); then break; fi
    sleep 0.05
  done
  kill -0 "$NODE_PID" 2>/dev/null || node_fail "the node died during the uploads"
  kill -KILL "$NODE_PID"
  wait_node_exit 10 "SIGKILL"
  assert_eq "$NODE_RC" 137 "the node's exit status after SIGKILL"
  log "  SIGKILL after $(($(now_ms) - start_ms)) ms with $running of $n uploads still running"
  wait_uploads 30 "after SIGKILL"
  local ok=0 res
  declare -a GOOD=()
  for ((i = 0; i < n; i++)); do
    check_upload "$i" "${MID[$i]}" "${MID_HASH[$i]}" "$TMP/up-kill/$i"
    res="$UP_RES"
    if [[ "$res" == ok ]]; then
      ok=$((ok + 1))
      GOOD+=("$i")
    fi
  done
  log "  $ok of $n uploads got 201 before the kill; HTTP codes: $(code_summary "$TMP/up-kill")"
  check_offline_store "after SIGKILL"
  for i in "${GOOD[@]}"; do
    reads_back_offline "${MID_HASH[$i]}" "${MID[$i]}" "after SIGKILL (upload $i)"
  done
  local hh
  for hh in $(offline ls | awk '{print $1}'); do
    printf '%s\n' "${MID_HASH[@]}" | grep -qx "$hh" || fail "after SIGKILL: ls lists $hh, which no upload sent"
  done
  # A node restarted on the dir serves what was acknowledged.
  start_node "$DATA" "$TMP/node-kill2.log"
  wait_ready 30
  if ((ok > 0)); then
    i="${GOOD[0]}"
    curl -sS --max-time 60 -o "$TMP/kill.get" "$URL/v1/blobs/${MID_HASH[$i]}" || node_fail "GET after the restart failed"
    cmp -s "$TMP/kill.get" "${MID[$i]}" || node_fail "the restarted node served different bytes for upload $i"
    rm -f "$TMP/kill.get"
  fi
  kill -TERM "$NODE_PID"
  wait_node_exit 30 "SIGTERM of the restarted node"
  [[ "$NODE_RC" == 0 ]] || node_fail "the restarted node exited $NODE_RC after SIGTERM"
}

section "api and SIGQUIT" test_api_and_sigquit
section "graceful SIGTERM with 20 uploads in flight (at $((SECONDS - T0)) s)" test_graceful_sigterm
section "shutdown deadline cuts off slow uploads (at $((SECONDS - T0)) s)" test_deadline
section "drain delay: not ready, still serving, then closed (at $((SECONDS - T0)) s)" test_drain_delay
section "second signal exits at once (at $((SECONDS - T0)) s)" test_second_signal
section "SIGKILL during uploads (at $((SECONDS - T0)) s)" test_sigkill
log "total $((SECONDS - T0)) s"
finish_tests node_lifecycle
