#!/usr/bin/env bash
# The node's disk health check and a full disk, on a small tmpfs (root only):
#   - with plenty free, /health/ready is 200 and disk:utilization passes;
#   - under health.disk_warn_free (30%) but over the 16 MiB fail floor, it warns and the
#     node stays ready (200, status "warn");
#   - under 16 MiB free, within a few seconds /health/ready is 503 naming
#     disk:utilization with status fail; /health/checks gives its output (the free
#     bytes); /health/live stays 200; /v1/status says not ready; the metric
#     bzzz_health_check_status{check="disk:utilization"} is 2; removing the filler makes
#     it ready again;
#   - with the disk completely full, a large put gets 507 disk_full (small puts too once
#     the pack's preallocated reserve is used up), nothing is left in blobs/temp, reads
#     still work and the node keeps running; after freeing space a put succeeds and
#     reads back byte-identical, and it is ready again.
# health.shutdown_on_critical=false, so the failing critical check does not stop the node.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd python3 curl jq b3sum cmp df mount umount
[[ "$(id -u)" == 0 ]] || skip "needs root to mount a small tmpfs (running as uid $(id -u))"
MNT="$TMP/mnt"
mkdir -p "$MNT"
mount -t tmpfs -o size=64m,mode=755 bzzz-health-test "$MNT" 2>"$TMP/mount.err" ||
  skip "cannot mount a tmpfs here (no CAP_SYS_ADMIN?): $(cat "$TMP/mount.err")"
on_exit "umount -l '$MNT'"
DATA="$MNT/data"
MiB=1048576
NODE_LOG="$TMP/node.log"

avail_bytes() { echo $(($(df -B1 --output=avail "$MNT" | tail -1))); }

# fill_leaving BYTES: a filler file takes all free space but about BYTES. With BYTES > 0
# it is allocated at its size at once, so the node never sees the disk full on the way.
fill_leaving() {
  local want
  rm -f "$MNT/filler"
  if (($1 == 0)); then
    dd if=/dev/zero of="$MNT/filler" bs=64k status=none 2>/dev/null || true
    return 0
  fi
  want=$(($(avail_bytes) - $1))
  want=$((want / 4096 * 4096))
  ((want > 0)) || return 0
  fallocate -l "$want" "$MNT/filler" 2>/dev/null ||
    head -c "$want" /dev/zero >"$MNT/filler"
}

# Failures that do not stop the test (the state it builds on is still sound); reported at
# the end.
SOFT_FAILS=()
soft_fail() {
  SOFT_FAILS+=("$1")
  printf 'FAIL (continuing): %s\n' "$1" >&2
}

node_fail() {
  fail "$*
--- df: $(df -B1 --output=avail,size "$MNT" | tail -1)
--- /health/checks: $(curl -s --max-time 5 "$URL/health/checks" 2>/dev/null | head -c 3000)
--- last lines of the node log ---
$(tail -n 40 "$NODE_LOG" 2>/dev/null)"
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" 2>/dev/null || true; }

# get_json PATH: the body of GET PATH (any status) in $BODY, the status in $CODE.
get_json() {
  CODE="$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 10 "$URL$1" 2>/dev/null || true)"
  BODY="$(cat "$TMP/body" 2>/dev/null || true)"
}

# wait_ready WANT SECONDS: polls /health/ready until it answers WANT; fails otherwise.
wait_ready() {
  local want="$1" secs="$2" i
  for ((i = 0; i < secs * 5; i++)); do
    get_json /health/ready
    [[ "$CODE" == "$want" ]] && return 0
    alive "$NODE_PID" || node_fail "the node exited while waiting for /health/ready $want"
    sleep 0.2
  done
  node_fail "/health/ready did not answer $want within $secs s (last: $CODE $BODY)"
}

# disk_check FIELD: a field of disk:utilization in the last $BODY.
disk_check() { jq -r --arg f "$1" '.checks["disk:utilization"][0][$f] // empty' <<<"$BODY"; }

# put_file FILE: POST /v1/blobs; the status in $CODE, the body in $BODY.
put_file() {
  CODE="$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 120 -X POST --data-binary "@$1" \
    -H 'Content-Type: application/octet-stream' "$URL/v1/blobs" 2>/dev/null || true)"
  BODY="$(cat "$TMP/body" 2>/dev/null || true)"
}

assert_temp_empty() {
  local left
  left="$(find "$DATA/blobs/temp" -mindepth 1 ! -name 'health-probe-*' 2>/dev/null | head -5)"
  [[ -z "$left" ]] || node_fail "$1: blobs/temp still holds: $left"
}

# ---------------------------------------------------------------------------------------
log "start the node on a 64 MiB tmpfs (fail below 16 MiB free, warn below 30%)"
for _ in 1 2 3; do
  PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  URL="http://127.0.0.1:$PORT"
  env BZZZ_API_LISTEN="127.0.0.1:$PORT" BZZZ_HEALTH_INTERVAL=500ms BZZZ_HEALTH_SHUTDOWN_ON_CRITICAL=false \
    BZZZ_HEALTH_DISK_FAIL_FREE_BYTES=16MiB BZZZ_HEALTH_DISK_FAIL_FREE=0 BZZZ_HEALTH_DISK_WARN_FREE=0.3 \
    BZZZ_API_MAX_BODY=64MiB \
    "$BZZZ_BIN" --data "$DATA" node >"$NODE_LOG" 2>&1 &
  NODE_PID=$!
  on_exit "stop_node $NODE_PID 20"
  for ((i = 0; i < 300; i++)); do
    [[ "$(http_code "$URL/health/live")" == 200 ]] && break
    alive "$NODE_PID" || break
    sleep 0.2
  done
  alive "$NODE_PID" && break
  grep -qi "bind" "$NODE_LOG" || node_fail "the node exited at start"
done
alive "$NODE_PID" || node_fail "the node could not start"
wait_ready 200 60
assert_eq "$(disk_check status)" pass "disk:utilization with $(avail_bytes) bytes free of 64 MiB"
log "  ready; $(avail_bytes) bytes free"

small="$TMP/small"
make_random "$small" 3000
put_file "$small"
[[ "$CODE" == 201 ]] || node_fail "a put on the empty tmpfs: $CODE $BODY"
SMALL_HASH="$(json_field hash <<<"$BODY")"
big="$TMP/big"
make_random "$big" $((2 * MiB))
put_file "$big"
[[ "$CODE" == 201 ]] || node_fail "a 2 MiB put on the empty tmpfs: $CODE $BODY"
BIG_HASH="$(json_field hash <<<"$BODY")"
assert_eq "$BIG_HASH" "$(b3 "$big")" "hash of the 2 MiB put"

# ---------------------------------------------------------------------------------------
log "under 30% free but over 16 MiB: warn, still ready"
fill_leaving $((18 * MiB))
for ((i = 0; i < 100; i++)); do
  get_json /health/ready
  [[ "$(disk_check status)" == warn ]] && break
  sleep 0.2
done
[[ "$CODE" == 200 && "$(disk_check status)" == warn ]] ||
  node_fail "with $(avail_bytes) bytes free (<30%, >16 MiB): expected 200 with disk:utilization warn, got $CODE $BODY"
assert_eq "$(jq -r .status <<<"$BODY")" warn "overall ready status with a warning disk"
assert_contains "$(disk_check output)" "warns below" "the warning's output"
log "  $(avail_bytes) bytes free: 200, warn: $(disk_check output)"

# ---------------------------------------------------------------------------------------
log "under 16 MiB free: not ready within a few seconds, naming disk:utilization"
fill_leaving $((8 * MiB))
free_now="$(avail_bytes)"
((free_now < 16 * MiB)) || node_fail "the filler left $free_now bytes free, not under 16 MiB"
wait_ready 503 15
assert_eq "$(jq -r .status <<<"$BODY")" fail "/health/ready status with under 16 MiB free"
assert_eq "$(disk_check status)" fail "/health/ready: disk:utilization status"
assert_eq "$(disk_check critical)" true "/health/ready: disk:utilization is critical"
ready_output="$(disk_check output)"
assert_contains "$ready_output" "bytes free" "/health/ready: disk:utilization output"
get_json /health/checks
assert_eq "$CODE" 503 "/health/checks status code with the disk check failing"
[[ "$(curl -s -o /dev/null -w '%{content_type}' "$URL/health/checks")" == application/health+json* ]] ||
  node_fail "/health/checks Content-Type is not application/health+json"
out="$(disk_check output)"
assert_contains "$out" "bytes free" "/health/checks: disk:utilization output"
assert_contains "$out" "$DATA" "/health/checks: disk:utilization output names the data dir"
reported="$(grep -Eo '[0-9]+ bytes free' <<<"$out" | head -1 | cut -d' ' -f1)"
if [[ -z "$reported" ]] || ((reported >= 16 * MiB)); then
  node_fail "/health/checks reports '$out', expected a free byte count under 16 MiB"
fi
assert_contains "$out" "16.0 MiB" "/health/checks: the output names the 16 MiB floor"
get_json /health
assert_eq "$CODE" 503 "/health (summary) with the disk check failing"
assert_eq "$(http_code "$URL/health/live")" 200 "/health/live with the disk check failing (not a liveness check)"
get_json /v1/status
assert_eq "$(jq -r .ready <<<"$BODY")" false "/v1/status ready with the disk check failing"
metric="$(curl -s --max-time 10 "$URL/metrics" | grep -E '^bzzz_health_check_status\{check="disk:utilization"\}' || true)"
[[ "$metric" =~ \ 2$ ]] || node_fail "bzzz_health_check_status for the disk is not 2 (fail): '$metric'"
log "  $free_now bytes free: 503; output: $out"
# The node stays up although a critical check fails (health.shutdown_on_critical=false).
alive "$NODE_PID" || node_fail "the node exited with the disk check failing"

log "removing the filler makes it ready again"
rm -f "$MNT/filler"
wait_ready 200 15
assert_eq "$(disk_check status)" pass "disk:utilization after removing the filler"

# ---------------------------------------------------------------------------------------
log "a completely full disk: puts get 507 disk_full, the node keeps running"
fill_leaving 0
sync
log "  $(avail_bytes) bytes free"
big2="$TMP/big2"
make_random "$big2" $((3 * MiB))
put_file "$big2"
[[ "$CODE" == 507 ]] || node_fail "a 3 MiB put on a full disk: expected 507, got $CODE $BODY"
assert_eq "$(jq -r .error.code <<<"$BODY")" disk_full "error code of a put on a full disk"
msg="$(jq -r .error.message <<<"$BODY")"
assert_imatch "$msg" "no space|disk full" "error message of a put on a full disk"
assert_temp_empty "after the refused large put"
# Chunked too (no length known in advance).
CODE="$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 120 -X POST -H 'Transfer-Encoding: chunked' \
  --data-binary @- "$URL/v1/blobs" <"$big2" 2>/dev/null || true)"
BODY="$(cat "$TMP/body")"
[[ "$CODE" == 507 ]] || node_fail "a chunked 3 MiB put on a full disk: expected 507, got $CODE $BODY"
assert_temp_empty "after the refused chunked put"
# Reads and stats work on the full disk.
curl -sf --max-time 30 -o "$TMP/readback" "$URL/v1/blobs/$BIG_HASH" || node_fail "a read on a full disk failed: $(curl -s "$URL/v1/blobs/$BIG_HASH" | head -c 300)"
cmp -s "$TMP/readback" "$big" || node_fail "a read on a full disk returned different bytes"
curl -sf --max-time 30 -o "$TMP/readback" "$URL/v1/blobs/$SMALL_HASH" || node_fail "a small read on a full disk failed"
cmp -s "$TMP/readback" "$small" || node_fail "a small read on a full disk returned different bytes"
curl -sf --max-time 30 "$URL/v1/stats" >/dev/null || node_fail "GET /v1/stats on a full disk failed"
log "  large puts: 507 disk_full; reads and stats still work"

# Small puts go into the active pack, which may hold preallocated zeros: they succeed
# until that reserve is used up, then fail the same way. Those acknowledged must survive.
declare -A ACKED=()
small_failed=""
for ((n = 1; n <= 3000; n++)); do
  make_random "$TMP/s-$n" 12000
  put_file "$TMP/s-$n"
  if [[ "$CODE" == 507 ]]; then
    small_failed=$n
    break
  fi
  [[ "$CODE" == 201 ]] || node_fail "small put #$n on a full disk: expected 201 or 507, got $CODE $BODY"
  ACKED["$(json_field hash <<<"$BODY")"]="$TMP/s-$n"
done
[[ -n "$small_failed" ]] || node_fail "3000 small puts of 12000 bytes all fitted on a full disk"
assert_eq "$(jq -r .error.code <<<"$BODY")" disk_full "error code of a small put on a full disk"
log "  small puts: 507 disk_full after ${#ACKED[@]} fitted into the pack's reserve: $(jq -r .error.message <<<"$BODY")"
alive "$NODE_PID" || node_fail "the node exited on a full disk"
assert_eq "$(http_code "$URL/health/live")" 200 "/health/live on a full disk"
wait_ready 503 15
# A put that failed at the index commit leaves the index behind the log; the store then
# refuses reads (503 unavailable) rather than answer from a stale index. Either answer is
# accepted here while the disk is full, but never a wrong one.
code="$(curl -s -o "$TMP/readback" -w '%{http_code}' --max-time 30 "$URL/v1/blobs/$BIG_HASH" || true)"
if [[ "$code" == 200 ]]; then
  cmp -s "$TMP/readback" "$big" || node_fail "a read after the failed small put returned different bytes"
  log "  a read after the failed small put: 200"
else
  [[ "$code" == 503 ]] || node_fail "a read after the failed small put: expected 200 or 503, got $code $(head -c 300 "$TMP/readback")"
  log "  a read after the failed small put: 503 $(jq -r .error.message "$TMP/readback" 2>/dev/null)"
fi
alive "$NODE_PID" || node_fail "the node exited on a full disk"

# ---------------------------------------------------------------------------------------
log "after freeing space, reads work, puts succeed and it is ready again"
rm -f "$MNT/filler"
wait_ready 200 15
# Reads, before any write: a ready node serves them; freeing space alone must be enough
# (a node only read from must not stay unable to read).
for ((i = 0; i < 50; i++)); do
  code="$(curl -s -o "$TMP/readback" -w '%{http_code}' --max-time 30 "$URL/v1/blobs/$BIG_HASH" || true)"
  [[ "$code" == 200 ]] && break
  sleep 0.2
done
if [[ "$code" != 200 ]] || ! cmp -s "$TMP/readback" "$big"; then
  soft_fail "GET /v1/blobs/$BIG_HASH after freeing space (no put since), for 10 s while /health/ready is 200: $code $(head -c 300 "$TMP/readback")"
fi
put_file "$big2"
[[ "$CODE" == 201 ]] || node_fail "the 3 MiB put after freeing space: $CODE $BODY"
h="$(json_field hash <<<"$BODY")"
assert_eq "$h" "$(b3 "$big2")" "hash of the put after freeing space"
assert_eq "$(json_field deduplicated <<<"$BODY")" false "the put refused on the full disk left nothing behind"
curl -sf --max-time 30 -o "$TMP/readback" "$URL/v1/blobs/$h" || node_fail "get after freeing space failed"
cmp -s "$TMP/readback" "$big2" || node_fail "the blob put after freeing space reads back different"
put_file "$small"
[[ "$CODE" == 201 ]] || node_fail "a small put after freeing space: $CODE $BODY"
for h in "$BIG_HASH" "$SMALL_HASH" "${!ACKED[@]}"; do
  src="${ACKED[$h]:-}"
  [[ "$h" == "$BIG_HASH" ]] && src="$big"
  [[ "$h" == "$SMALL_HASH" ]] && src="$small"
  curl -sf --max-time 30 -o "$TMP/readback" "$URL/v1/blobs/$h" ||
    node_fail "blob $h (acknowledged with 201) cannot be read after freeing space: $(curl -s "$URL/v1/blobs/$h" | head -c 300)"
  cmp -s "$TMP/readback" "$src" || node_fail "blob $h reads back different after freeing space"
done
log "  every blob acknowledged before and on the full disk reads back identical"
wait_ready 200 15
assert_temp_empty "at the end"

log "SIGTERM stops the node cleanly; the store verifies"
stop_node "$NODE_PID" 60
alive "$NODE_PID" && node_fail "the node is still running 60 s after SIGTERM"
if wait "$NODE_PID"; then code=0; else code=$?; fi
[[ "$code" == 0 ]] || node_fail "the node exited $code on SIGTERM"
check_clean "the store after the full disk"
for h in "${!ACKED[@]}"; do
  bz --offline get "$h" >"$TMP/readback" 2>"$TMP/get.err" || fail "after a restart, get $h failed: $(cat "$TMP/get.err")"
  cmp -s "$TMP/readback" "${ACKED[$h]}" || fail "after a restart, $h reads back different"
done
if ((${#SOFT_FAILS[@]} > 0)); then
  printf 'FAIL: health_disk: %d problem(s):\n' "${#SOFT_FAILS[@]}" >&2
  printf '  - %s\n' "${SOFT_FAILS[@]}" >&2
  exit 1
fi
echo "PASS: health_disk"
