#!/usr/bin/env bash
# The Kademlia DHT through the node's faces, three nodes on loopback (B and C bootstrap
# from A; C runs in client mode): the routing tables hold the servers only; a record
# `bzzz dht put` on A is read by C (`bzzz dht get`), a newer one replaces it; a blob
# provider announced on A is found from C; the dht:routing health check passes with
# peers and warns without; bad input (another publisher's key, a key of no namespace,
# an oversized value, a malformed hash) gets a clear error and the node keeps serving;
# the record store survives a restart (in <data>/dht); dht.enabled=false answers 503.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd curl jq
source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"

NODE_SETTINGS=(--set health.interval=1s --set node.io_threads=1 --set node.workers=2 --set store.threads=1)
table_size() { api "$1" /v1/dht/peers | jq -r .size; }
table_has() { [[ "$(api "$1" /v1/dht/peers | jq --arg p "$2" '[.peers[] | select(.id == $p)] | length')" == 1 ]]; }
check_is() { [[ "$(api "$1" /health/checks | jq -r --arg c "$2" '.checks[$c][0].status')" == "$3" ]]; }

start_node 0
start_node 1 "$(addr 0)"
NODE_SETTINGS+=(--set dht.mode=client)
start_node 2 "$(addr 0)"

log "routing tables: servers only"
wait_until 10 "A has B in its routing table" table_has 0 "${IDS[1]}"
wait_until 10 "C has A in its routing table" table_has 2 "${IDS[0]}"
wait_until 10 "C has B in its routing table (from its first refresh)" table_has 2 "${IDS[1]}"
table_has 0 "${IDS[2]}" && fail "A put client-mode C in its routing table"
assert_eq "$(api 2 /v1/dht/peers | jq -r .mode)" client "C's mode"
assert_eq "$(api 0 /v1/dht/peers | jq -r .protocol)" /bzzz/kad/1.0.0 "A's protocol"
expect_rc 0 "bzzz dht peers on C" cli 2 dht peers
assert_contains "$RUN_OUT" "${IDS[0]}" "C's routing table listing"
wait_until 10 "dht:routing passes on C" check_is 2 dht:routing pass

log "records: put on A, get from C"
expect_rc 0 "dht put on A" cli 0 dht put notes "hello from A"
assert_contains "$RUN_OUT" "/bzzz/${IDS[0]}/notes" "put output names the full key"
ACCEPTED="$(cli 0 --json dht put notes "hello from A" | jq -r .accepted)"
[[ "$ACCEPTED" -ge 1 ]] || fail "no peer accepted A's record (accepted=$ACCEPTED)"
expect_rc 0 "dht get on C" cli 2 dht get "/bzzz/${IDS[0]}/notes"
assert_eq "$RUN_OUT" "hello from A" "value C reads"
DOC="$(cli 2 --json dht get "/bzzz/${IDS[0]}/notes")"
assert_eq "$(jq -r .publisher <<<"$DOC")" "${IDS[0]}" "record publisher"
SEQ1="$(jq -r .seq <<<"$DOC")"
printf 'second\nversion' | cli 0 dht put notes - >/dev/null || fail "dht put from stdin failed"
DOC="$(cli 2 --json dht get "/bzzz/${IDS[0]}/notes")"
assert_eq "$(jq -r .value <<<"$DOC")" "$(printf 'second\nversion')" "the newer value wins"
(($(jq -r .seq <<<"$DOC") > SEQ1)) || fail "the second put's seq is not above the first's"
printf '\x00\xff' | cli 1 dht put bin >/dev/null || fail "dht put of binary failed"
expect_rc 0 "dht get of a binary value" cli 2 dht get "/bzzz/${IDS[1]}/bin"
assert_eq "$RUN_OUT" "(binary, hex) 00ff" "binary value"
RAW="$(curl -s "http://127.0.0.1:${APIS[2]}/v1/dht/value/bzzz/${IDS[1]}/bin?raw=1" | od -An -tx1 | tr -d ' \n')"
assert_eq "$RAW" 00ff "?raw=1 body"
expect_rc 0 "dht get of A's public key record from C" cli 2 dht get "/pk/${IDS[0]}"
assert_contains "$RUN_OUT" "(binary, hex) 0801" "an Ed25519 PublicKey protobuf"

log "providers: announced on A, found from C"
printf 'a blob for the dht test' >"$TMP/blob"
HASH="$(cli 0 put "$TMP/blob" | tail -1)"
is_hash "$HASH" || fail "put printed no hash: $HASH"
expect_rc 0 "dht provide on A" cli 0 dht provide "$HASH"
DOC="$(cli 2 --json dht providers "$HASH")"
assert_eq "$(jq -r '.providers[0].id' <<<"$DOC")" "${IDS[0]}" "the provider C finds"
assert_eq "$(jq -r '.providers[0].addrs[0]' <<<"$DOC")" "/ip4/127.0.0.1/tcp/${PORTS[0]}" "the provider's address"
assert_eq "$(jq -r .key <<<"$DOC")" "1e20$HASH" "the provider key is the blob's blake3 multihash"
CID="$(cli 0 --json stat "$HASH" | jq -r .cid)"
if [[ "$CID" == bafkr4i* ]]; then
  assert_eq "$(cli 1 --json dht providers "$CID" | jq -r '.providers[0].id')" "${IDS[0]}" "providers by CID"
fi
NONE="$(printf '%063d1' 0)"
expect_rc 0 "providers of a blob nobody has" cli 2 dht providers "$NONE"
assert_contains "$RUN_OUT" "0 providers" "no providers"

log "bad input"
expect_rc 1 "put under another publisher's key" cli 2 dht put "/bzzz/${IDS[0]}/notes" forged
assert_contains "$RUN_ERR" "only its own records" "error for a foreign key"
assert_eq "$(cli 2 dht get "/bzzz/${IDS[0]}/notes")" "$(printf 'second\nversion')" "A's record after the refused forgery"
expect_rc 1 "get of a key without a validator" cli 2 dht get /foo/bar
assert_contains "$RUN_ERR" "no validator" "error for an unknown namespace"
expect_rc 1 "get of a key nobody stored" cli 2 dht get never-stored
assert_contains "$RUN_ERR" "no value" "error for a missing key"
expect_rc 2 "providers of a malformed hash" cli 2 dht providers not-a-hash
assert_contains "$RUN_ERR" "not-a-hash" "the error names the input"
expect_rc 2 "a key with an empty segment" cli 2 dht get "/bzzz//x"
head -c 40000 /dev/zero | tr '\0' x >"$TMP/big"
CODE="$(curl -s -o "$TMP/big.out" -w '%{http_code}' -X PUT --data-binary @"$TMP/big" \
  "http://127.0.0.1:${APIS[0]}/v1/dht/value/bzzz/${IDS[0]}/big")"
assert_eq "$CODE" 413 "status for a value over 32 KiB"
CODE="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${APIS[0]}/v1/dht/providers/1234?limit=x")"
assert_eq "$CODE" 400 "status for a malformed hash"
api 0 /v1/dht/peers | jq -e '.size >= 1' >/dev/null || fail "A stopped serving its DHT API"

log "the record store survives a restart"
RECORDS="$(api 1 /v1/dht/peers | jq -r .records)"
[[ "$RECORDS" -ge 2 ]] || fail "B holds $RECORDS records, expected A's and its own"
graceful_stop 1
[[ -f "$NODE_ROOT/n1/dht/data.mdb" ]] || fail "no DHT store under B's data dir"
start_node 1 "$(addr 0)"
assert_eq "$(api 1 /v1/dht/peers | jq -r .records)" "$RECORDS" "B's records after its restart"

log "dht:routing warns without peers"
graceful_stop 1
graceful_stop 2
graceful_stop 0
NODE_SETTINGS=(--set health.interval=1s)
start_node 3
wait_until 10 "dht:routing warns on a lone node" check_is 3 dht:routing warn
assert_contains "$(api 3 /health/checks | jq -r '.checks["dht:routing"][0].output')" "routing table" "the warning's text"
graceful_stop 3

log "dht.enabled=false"
NODE_SETTINGS=(--set dht.enabled=false)
start_node 4
CODE="$(curl -s -o "$TMP/off.out" -w '%{http_code}' "http://127.0.0.1:${APIS[4]}/v1/dht/peers")"
assert_eq "$CODE" 503 "status with the DHT off"
expect_rc 1 "bzzz dht peers with the DHT off" cli 4 dht peers
assert_contains "$RUN_ERR" "dht.enabled" "the error names the setting"
[[ "$(api 4 /health/checks | jq -r '.checks["dht:routing"]')" == null ]] || fail "a dht check without a DHT"
graceful_stop 4
finish_tests dht_node
