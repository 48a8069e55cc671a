#!/usr/bin/env bash
# Content routing through the node's faces, three nodes on loopback (B and C bootstrap
# from A): a blob put on A is fetched by C's `bzzz get` (same bytes, cached unpinned,
# X-Bzzz-Fetched on the API), then announced by C too (B's provider lookup finds A and
# C); HEAD of a blob held elsewhere answers its size without fetching; ?local=1 and
# `get --offline` refuse the mesh; `bzzz fetch --pin` pins; a malformed hash is a
# usage error and a blob nobody holds a clear 404. Then 1 GiB held by A and B only:
# C's `bzzz fetch` takes it from both at once, and `bzzz get` returns the same bytes.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd curl jq cmp
source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"

NODE_SETTINGS=(--set health.interval=1s --set node.io_threads=2 --set node.workers=4 --set store.threads=1)
# Replicas would spread the pinned blobs to the other nodes: this test holds them by hand.
if "$BZZZ_BIN" config show 2>/dev/null | grep -q '^replication.enabled'; then
  NODE_SETTINGS+=(--set replication.enabled=false)
fi
table_has() { [[ "$(api "$1" /v1/dht/peers | jq --arg p "$2" '[.peers[] | select(.id == $p)] | length')" == 1 ]]; }
# provides I HASH ID...: node I's provider lookup of HASH finds every ID.
provides() {
  local i="$1" hash="$2" doc id
  shift 2
  doc="$(api "$i" "/v1/dht/providers/$hash?limit=0")"
  for id in "$@"; do
    [[ "$(jq --arg p "$id" '[.providers[] | select(.id == $p)] | length' <<<"$doc")" == 1 ]] || return 1
  done
}
# status_of I METHOD PATH: the HTTP status of a request to node I (body in $TMP/body,
# headers in $TMP/headers).
status_of() {
  local method=(-X "$2")
  [[ "$2" == HEAD ]] && method=(-I)  # curl waits for no body
  curl -s --max-time 120 "${method[@]}" -D "$TMP/headers" -o "$TMP/body" -w '%{http_code}' \
    "http://127.0.0.1:${APIS[$1]}$3"
}
header_of() { tr -d '\r' <"$TMP/headers" | awk -v h="$1" 'tolower($1) == h":" {print $2}'; }

start_node 0
start_node 1 "$(addr 0)"
start_node 2 "$(addr 0)"
wait_until 10 "A has B in its routing table" table_has 0 "${IDS[1]}"
wait_until 10 "C has A in its routing table" table_has 2 "${IDS[0]}"
wait_until 10 "B has A in its routing table" table_has 1 "${IDS[0]}"

log "a 3 MiB blob put on A: bzzz get on C fetches it from the mesh"
make_random "$TMP/small" $((3 << 20))
H="$(cli 0 put "$TMP/small" | tail -1)"
is_hash "$H" || fail "put printed no hash: $H"
expect_rc 0 "bzzz get on C of a blob only A holds" cli 2 get "$H" -o "$TMP/small.c"
cmp -s "$TMP/small" "$TMP/small.c" || fail "the bytes C returned differ from what A was given"
assert_eq "$(cli 2 --json stat "$H" | jq -r .pins)" 0 "C's pins of the fetched blob (cached, not pinned)"
expect_rc 0 "bzzz get on C again (now local)" cli 2 get "$H" -o "$TMP/small.c2"
cmp -s "$TMP/small" "$TMP/small.c2" || fail "the second get on C returned other bytes"
rm -f "$TMP/small.c" "$TMP/small.c2"

log "C announced what it fetched: B's lookup finds A and C"
wait_until 20 "B's provider lookup finds A and C" provides 1 "$H" "${IDS[0]}" "${IDS[2]}"
[[ "$(api 2 /v1/routing | jq -r .provided)" -ge 1 ]] || fail "C's /v1/routing counts no provide: $(api 2 /v1/routing)"

log "the API: X-Bzzz-Fetched, HEAD without a fetch, ?local=1"
printf 'a second blob, put on A only\n' >"$TMP/second"
H2="$(cli 0 put "$TMP/second" | tail -1)"
assert_eq "$(status_of 1 HEAD "/v1/blobs/$H2")" 200 "HEAD on B of a blob A holds"
assert_eq "$(header_of content-length)" "$(file_size "$TMP/second")" "HEAD's Content-Length (the size A answered)"
assert_eq "$(header_of x-bzzz-remote)" 1 "HEAD's X-Bzzz-Remote"
assert_eq "$(status_of 1 GET "/v1/blobs/$H2/meta")" 404 "B's meta of the blob after a HEAD (nothing fetched)"
assert_eq "$(status_of 1 GET "/v1/blobs/$H2?local=1")" 404 "GET ?local=1 on B of a blob B lacks"
assert_contains "$(jq -r .error.message "$TMP/body")" "not fetched" "the ?local=1 error"
assert_contains "$(jq -r .error.message "$TMP/body")" "$H2" "the ?local=1 error names the hash"
assert_eq "$(status_of 1 GET "/v1/blobs/$H2")" 200 "GET on B of a blob A holds"
cmp -s "$TMP/body" "$TMP/second" || fail "B's GET answered other bytes"
assert_eq "$(header_of x-bzzz-fetched)" 1 "X-Bzzz-Fetched on the GET that fetched"
assert_eq "$(status_of 1 GET "/v1/blobs/$H2")" 200 "GET on B again"
assert_eq "$(header_of x-bzzz-fetched)" "" "X-Bzzz-Fetched on a local GET"

log "--offline refuses the mesh; bzzz fetch --pin pins"
expect_rc 1 "bzzz get --offline on B of a blob B lacks" cli 1 --offline get "$H"
assert_error_message "get --offline"
assert_contains "$RUN_ERR" "not fetched" "the get --offline error"
assert_eq "$(status_of 1 GET "/v1/blobs/$H/meta")" 404 "B's meta after get --offline (nothing fetched)"
expect_rc 0 "bzzz fetch --pin on B" cli 1 fetch --pin "$H"
assert_contains "$RUN_OUT" "fetched $H" "fetch's text"
DOC="$(cli 1 --json stat "$H")"
assert_eq "$(jq -r .pins <<<"$DOC")" 1 "B's pins after fetch --pin"
DOC="$(cli 1 --json fetch --pin "$H")"
assert_eq "$(jq -r .fetched <<<"$DOC")" false "fetch of a blob held already"
assert_eq "$(jq -r .pins <<<"$DOC")" 2 "pins after a second fetch --pin (applied, nothing transferred)"
assert_eq "$(jq -r .bytes <<<"$DOC")" 0 "bytes of a fetch of a blob held already"
expect_rc 0 "bzzz get --offline on B now that it holds the blob" cli 1 --offline get "$H" -o "$TMP/small.b"
cmp -s "$TMP/small" "$TMP/small.b" || fail "get --offline on B returned other bytes"
rm -f "$TMP/small.b"

log "bad input and blobs nobody has"
expect_rc 2 "bzzz get of a malformed hash" cli 2 get not-a-hash
assert_contains "$RUN_ERR" "not-a-hash" "the error names the input"
expect_rc 2 "bzzz fetch of a malformed hash" cli 2 fetch 12345
assert_contains "$RUN_ERR" "12345" "the error names the input"
assert_eq "$(status_of 2 POST /v1/blobs/zz/fetch)" 400 "POST /v1/blobs/zz/fetch"
NONE="$(printf '%063d7' 0)"
expect_rc 1 "bzzz fetch of a blob nobody has" cli 2 fetch "$NONE"
assert_contains "$RUN_ERR" "no provider of $NONE was found" "the not-found error"
assert_contains "$RUN_ERR" "and the DHT" "the not-found error says what was asked"
assert_eq "$(status_of 2 GET "/v1/blobs/$NONE")" 404 "GET of a blob nobody has"
assert_contains "$(jq -r .error.message "$TMP/body")" "no provider of $NONE" "the GET's error"
assert_eq "$(status_of 2 HEAD "/v1/blobs/$NONE")" 404 "HEAD of a blob nobody has"
expect_rc 1 "bzzz get of a blob nobody has" cli 2 get "$NONE"
assert_contains "$RUN_ERR" "no provider of $NONE" "the get error"

log "1 GiB held by A and B only: C fetches it from both at once"
BIG="$TMP/big"
head -c 1G /dev/urandom >"$BIG"
HB="$(cli 0 put "$BIG" | tail -1)"
is_hash "$HB" || fail "put of 1 GiB on A printed no hash: $HB"
assert_eq "$(cli 1 put "$BIG" | tail -1)" "$HB" "B's hash of the same file"
wait_until 20 "C's provider lookup finds A and B" provides 2 "$HB" "${IDS[0]}" "${IDS[1]}"
START=$SECONDS
DOC="$(cli 2 --json fetch "$HB")" || fail "bzzz fetch of 1 GiB on C failed: $DOC"
log "  fetched in $((SECONDS - START)) s: $(jq -c '{seconds, bytes, served_by}' <<<"$DOC")"
assert_eq "$(jq -r .fetched <<<"$DOC")" true "the 1 GiB fetch's 'fetched'"
assert_eq "$(jq -r .size <<<"$DOC")" $((1 << 30)) "the 1 GiB fetch's size"
for i in 0 1; do
  [[ "$(jq --arg p "${IDS[$i]}" '[.served_by[] | select(. == $p)] | length' <<<"$DOC")" == 1 ]] ||
    fail "served_by does not list node $i (${IDS[$i]}): $(jq -c .served_by <<<"$DOC")"
done
expect_rc 0 "bzzz get of 1 GiB on C" cli 2 get "$HB" -o "$TMP/big.c"
cmp -s "$BIG" "$TMP/big.c" || fail "the 1 GiB C returned differs from the file"
rm -f "$BIG" "$TMP/big.c"

for i in 2 1 0; do graceful_stop "$i"; done
finish_tests content_routing
