#!/usr/bin/env bash
# GET /metrics on a running node: after a few requests (puts, gets, a range, a HEAD, a
# 404, a 400, unknown paths) the body is Prometheus text format 0.0.4 that
# `promtool check metrics` accepts; it has the build info, process, HTTP (by route
# template), store and health families; the counters move by exactly what was done
# between two scrapes; and no label value is a hash or a CID, nor a raw request path
# (bounded cardinality).
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd python3 curl b3sum
command -v promtool >/dev/null 2>&1 ||
  skip "this test needs 'promtool' (Debian package 'prometheus') to check the exposition format"

NODE_LOG="$TMP/node.log"
node_fail() { fail "$*
--- last lines of the node log ---
$(tail -n 40 "$NODE_LOG" 2>/dev/null)"; }

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" 2>/dev/null || true; }

start_node() {
  local i
  for _ in 1 2 3; do
    PORT="$(free_port)"
    URL="http://127.0.0.1:$PORT"
    env BZZZ_API_LISTEN="127.0.0.1:$PORT" BZZZ_HEALTH_INTERVAL=500ms BZZZ_HEALTH_SHUTDOWN_ON_CRITICAL=false \
      BZZZ_HEALTH_DISK_FAIL_FREE_BYTES=0 BZZZ_HEALTH_DISK_FAIL_FREE=0 BZZZ_HEALTH_DISK_WARN_FREE=0 \
      "$BZZZ_BIN" --data "$DATA" node >"$NODE_LOG" 2>&1 &
    NODE_PID=$!
    on_exit "stop_node $NODE_PID 10"
    for ((i = 0; i < 600; i++)); do
      [[ "$(http_code "$URL/health/ready")" == 200 ]] && return 0
      alive "$NODE_PID" || break
      sleep 0.1
    done
    if ! alive "$NODE_PID" && grep -qi "bind" "$NODE_LOG"; then continue; fi
    kill -KILL "$NODE_PID" 2>/dev/null || true
    node_fail "the node did not become ready within 60 s"
  done
  node_fail "the node could not bind a port in 3 attempts"
}

# scrape NAME: GET /metrics into $TMP/NAME.txt (body) and $TMP/NAME.hdr (header).
scrape() {
  local code
  code="$(curl -s --max-time 30 -D "$TMP/$1.hdr" -o "$TMP/$1.txt" -w '%{http_code}' "$URL/metrics" || true)"
  [[ "$code" == 200 ]] || node_fail "GET /metrics answered '$code'"
}

# sample FILE NAME LABEL_REGEX: the value of the first sample of NAME whose label set
# matches LABEL_REGEX (an ERE over the text between the braces); empty if none.
sample() {
  "$PY" - "$@" <<'EOF'
import re, sys
path, name, label_re = sys.argv[1], sys.argv[2], sys.argv[3]
for line in open(path, encoding="utf-8"):
    if line.startswith("#"):
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
    if m and m.group(1) == name and re.search(label_re, m.group(2) or ""):
        print(m.group(3))
        break
EOF
}

# put_bytes FILE: POST it; prints the hash.
put_bytes() {
  local out
  out="$(curl -sf --max-time 60 -X POST --data-binary "@$1" "$URL/v1/blobs")" || node_fail "put of $1 failed"
  json_field hash <<<"$out"
}

start_node
log "node up at $URL"

# ---------------------------------------------------------------------------------------
log "a few requests: puts, gets, a range, a HEAD, a 404, a 400, unknown paths"
make_random "$TMP/a" 1000
make_text "$TMP/b" 200000 metrics
make_random "$TMP/c" 50000
PUT_BYTES=0
declare -a HASHES=()
for f in a b c; do
  HASHES+=("$(put_bytes "$TMP/$f")")
  PUT_BYTES=$((PUT_BYTES + $(file_size "$TMP/$f")))
done
for h in "${HASHES[@]}"; do
  curl -sf --max-time 30 -o /dev/null "$URL/v1/blobs/$h" || node_fail "get $h failed"
done
curl -sf --max-time 30 -o /dev/null -H 'Range: bytes=10-99' "$URL/v1/blobs/${HASHES[1]}" || node_fail "range get failed"
curl -sf --max-time 30 -o /dev/null -I "$URL/v1/blobs/${HASHES[0]}" || node_fail "HEAD failed"
missing="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
assert_eq "$(http_code "$URL/v1/blobs/$missing")" 404 "GET of an absent blob"
assert_eq "$(http_code "$URL/v1/blobs/not-a-hash")" 400 "GET of a malformed hash"
# Unknown paths carrying hashes and random words must not become label values.
for i in $(seq 1 20); do
  h="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  assert_eq "$(http_code "$URL/nowhere/$h/$i")" 404 "GET of an unknown path"
done
assert_eq "$(http_code -X POST "$URL/v1/pins/${HASHES[0]}")" 200 "pin"
assert_eq "$(http_code "$URL/v1/stats")" 200 "stats"

# ---------------------------------------------------------------------------------------
log "Content-Type and promtool check metrics"
scrape first
ctype="$(grep -i '^content-type:' "$TMP/first.hdr" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//')"
[[ "$ctype" == text/plain* ]] || fail "/metrics Content-Type is '$ctype', expected text/plain; version=0.0.4"
assert_contains "$ctype" "version=0.0.4" "/metrics Content-Type"
[[ -s "$TMP/first.txt" ]] || node_fail "/metrics body is empty"
[[ "$(tail -c 1 "$TMP/first.txt" | od -An -c | tr -d ' ')" == '\n' ]] || fail "/metrics body does not end in a newline"
if ! promtool check metrics <"$TMP/first.txt" >"$TMP/promtool.out" 2>&1; then
  fail "promtool check metrics rejected /metrics:
$(head -c 3000 "$TMP/promtool.out")"
fi
[[ ! -s "$TMP/promtool.out" ]] || fail "promtool check metrics reported problems: $(head -c 3000 "$TMP/promtool.out")"
log "  Content-Type: $ctype; promtool check metrics: clean"

log "the expected families are there"
M="$TMP/first.txt"
for family in bzzz_build_info bzzz_process_resident_memory_bytes bzzz_http_requests_total \
  bzzz_http_request_duration_seconds bzzz_store_blobs bzzz_store_compression_ratio \
  bzzz_health_check_status bzzz_store_put_bytes_total; do
  grep -q "^# TYPE $family " "$M" || fail "/metrics has no '# TYPE $family' line"
  grep -q "^# HELP $family " "$M" || fail "/metrics has no '# HELP $family' line"
done
v="$(sample "$M" bzzz_build_info 'version="[^"]+"')"
assert_eq "$v" 1 "bzzz_build_info{version=...}"
v="$(sample "$M" bzzz_process_resident_memory_bytes '')"
awk -v v="$v" 'BEGIN { exit !(v ~ /^[0-9.e+]+$/ && v + 0 > 1e6) }' ||
  fail "bzzz_process_resident_memory_bytes is '$v', expected a resident size over 1 MB"
v="$(sample "$M" bzzz_http_requests_total 'route="/v1/blobs"' )"
[[ -n "$v" ]] || fail "no bzzz_http_requests_total sample with route=\"/v1/blobs\": $(grep '^bzzz_http_requests_total' "$M" | head -20)"
v="$(sample "$M" bzzz_http_requests_total 'code="201".*method="POST".*route="/v1/blobs"')"
assert_eq "$v" 3 "bzzz_http_requests_total for POST /v1/blobs (3 puts)"
v="$(sample "$M" bzzz_http_requests_total 'code="404".*route="/v1/blobs/\{hash\}"')"
assert_eq "$v" 1 "bzzz_http_requests_total for the 404 on /v1/blobs/{hash}"
v="$(sample "$M" bzzz_http_requests_total 'code="400".*route="/v1/blobs/\{hash\}"')"
assert_eq "$v" 1 "bzzz_http_requests_total for the 400 on /v1/blobs/{hash}"
v="$(sample "$M" bzzz_http_request_duration_seconds_bucket 'method="POST".*route="/v1/blobs".*le="\+Inf"|le="\+Inf".*method="POST".*route="/v1/blobs"')"
assert_eq "$v" 3 "bzzz_http_request_duration_seconds_bucket{route=\"/v1/blobs\",le=\"+Inf\"} (3 puts)"
stats_blobs="$(curl -sf "$URL/v1/stats" | json_field blobs)"
assert_eq "$(sample "$M" bzzz_store_blobs '')" "$stats_blobs" "bzzz_store_blobs vs /v1/stats"
assert_eq "$(sample "$M" bzzz_store_blobs '')" 3 "bzzz_store_blobs after 3 puts"
ratio="$(sample "$M" bzzz_store_compression_ratio '')"
awk -v r="$ratio" 'BEGIN { exit !(r ~ /^[0-9.e+-]+$/ && r + 0 > 0 && r + 0 < 1) }' ||
  fail "bzzz_store_compression_ratio is '$ratio'; with a compressible 200 KB text blob it should be in (0, 1)"
assert_eq "$(sample "$M" bzzz_store_put_bytes_total '')" "$PUT_BYTES" "bzzz_store_put_bytes_total (bytes put)"
for check in disk:utilization store:writable memory:utilization eventloop:lag; do
  v="$(sample "$M" bzzz_health_check_status "check=\"$check\"")"
  assert_eq "$v" 0 "bzzz_health_check_status{check=\"$check\"} (0 = pass)"
done
log "  build info, process, HTTP, store and health families present with the expected values"

# ---------------------------------------------------------------------------------------
log "no label value is a hash, a CID or a raw request path"
"$PY" - "$M" "${HASHES[@]}" <<'EOF' || fail "label values leak per-request data (above)"
import re, sys
path, hashes = sys.argv[1], sys.argv[2:]
bad, routes = [], set()
label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
for line in open(path, encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
    if not m:
        bad.append(f"unparsable line: {line.strip()}")
        continue
    for k, v in label.findall(m.group(2) or ""):
        if k == "route":
            routes.add(v)
        if re.search(r"[0-9a-fA-F]{64}", v) or re.search(r"\bbaf[a-z2-7]{50,}", v) or any(h in v for h in hashes):
            bad.append(f"{m.group(1)}: label {k}=\"{v}\" carries a hash or CID")
        if "/nowhere" in v:
            bad.append(f"{m.group(1)}: label {k}=\"{v}\" is a raw request path")
if len(routes) > 30:
    bad.append(f"{len(routes)} distinct route labels (unbounded?): {sorted(routes)[:40]}")
for b in bad[:20]:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
log "  clean"

# ---------------------------------------------------------------------------------------
log "counters move by exactly what happened between two scrapes"
before_posts="$(sample "$M" bzzz_http_requests_total 'method="POST".*route="/v1/blobs"')"
before_bytes="$(sample "$M" bzzz_store_put_bytes_total '')"
make_random "$TMP/d" 7000
make_random "$TMP/e" 300000
added=0
for f in d e a; do # a again: a deduplicated put is still an upload
  put_bytes "$TMP/$f" >/dev/null
  added=$((added + $(file_size "$TMP/$f")))
done
scrape second
M2="$TMP/second.txt"
promtool check metrics <"$M2" >"$TMP/promtool.out" 2>&1 || fail "promtool rejected the second scrape: $(head -c 2000 "$TMP/promtool.out")"
assert_eq "$(sample "$M2" bzzz_http_requests_total 'method="POST".*route="/v1/blobs"')" $((before_posts + 3)) \
  "POST /v1/blobs count after 3 more puts"
assert_eq "$(sample "$M2" bzzz_store_put_bytes_total '')" $((before_bytes + added)) "bzzz_store_put_bytes_total after 3 more puts"
assert_eq "$(sample "$M2" bzzz_store_blobs '')" 5 "bzzz_store_blobs after 2 new blobs and one duplicate"
v="$(sample "$M2" bzzz_http_requests_total 'code="200".*route="/metrics"')"
awk -v v="$v" 'BEGIN { exit !(v ~ /^[0-9.e+]+$/ && v + 0 >= 1) }' ||
  fail "the first scrape was not counted under route=\"/metrics\": '$v'"
log "  +3 POSTs, +$added put bytes, 5 blobs"

alive "$NODE_PID" || node_fail "the node died"
stop_node "$NODE_PID" 60
alive "$NODE_PID" && node_fail "the node is still running 60 s after SIGTERM"
if wait "$NODE_PID"; then code=0; else code=$?; fi
[[ "$code" == 0 ]] || node_fail "the node exited $code on SIGTERM"
echo "PASS: metrics"
