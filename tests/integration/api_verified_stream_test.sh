#!/usr/bin/env bash
# Large raw blobs are served piece by piece once their BLAKE3 piece tree is known: a
# range costs a piece's check, not a hash of the whole blob; and a damaged piece is
# never sent: a range over it gets 500 "corrupt" (and the blob is flagged), a full GET
# is cut short before it.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd curl b3sum jq cmp

PORT="$(free_port)"
URL="http://127.0.0.1:$PORT"
BZZZ_API_LISTEN="127.0.0.1:$PORT" "$BZZZ_BIN" --data "$DATA" node >"$TMP/node.log" 2>&1 &
NODE_PID=$!
on_exit "kill -9 $NODE_PID 2>/dev/null || true"
for _ in $(seq 300); do
  curl -fsS -o /dev/null "$URL/health/ready" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$URL/health/ready" || fail "node not ready: $(tail -20 "$TMP/node.log")"

log "a 6 MiB blob reads back whole and in ranges, before and after its tree is known"
make_random "$TMP/big" $((6 * 1024 * 1024 + 123))
H="$(curl -fsS -X POST -T "$TMP/big" "$URL/v1/blobs" | jq -r .hash)"
is_hash "$H" || fail "upload answered no hash"
for pass in first second; do
  curl -fsS "$URL/v1/blobs/$H" -o "$TMP/back" || fail "$pass GET failed"
  cmp -s "$TMP/back" "$TMP/big" || fail "$pass GET returned different bytes"
  for r in 0-0 1048575-1048576 3000000-3999999 6291456- -5; do
    curl -fsS -r "$r" "$URL/v1/blobs/$H" -o "$TMP/part" || fail "$pass GET range $r failed"
    case "$r" in
      -*) want=$(tail -c "${r#-}" "$TMP/big" | b3sum --no-names) ;;
      *-) want=$(tail -c +$((${r%-} + 1)) "$TMP/big" | b3sum --no-names) ;;
      *) a=${r%-*} b=${r#*-}
         want=$({ tail -c +$((a + 1)) "$TMP/big" || true; } | head -c $((b - a + 1)) | b3sum --no-names) ;;
    esac
    assert_eq "$(b3sum --no-names <"$TMP/part")" "$want" "$pass GET range $r"
  done
done

log "a damaged piece is never served"
flip_byte "$DATA/blobs/data/${H:0:2}/${H:2:2}/$H" $((3 * 1024 * 1024 + 5000))
code=$(curl -sS -r 3145728-3200000 -o "$TMP/err" -w '%{http_code}' "$URL/v1/blobs/$H")
assert_eq "$code" 500 "range over the damaged piece: status"
assert_eq "$(jq -r .error.code <"$TMP/err")" corrupt "range over the damaged piece: error code"
# The full GET hashes the whole file again (the tree was dropped): refused before any byte.
code=$(curl -sS -o "$TMP/err" -w '%{http_code}' "$URL/v1/blobs/$H")
assert_eq "$code" 500 "full GET of the damaged blob: status"
assert_eq "$(curl -fsS "$URL/v1/blobs/$H/meta" | jq -r .corrupt)" true "the blob is flagged corrupt"

log "a damaged piece met mid-stream cuts the response short of it"
make_random "$TMP/big2" $((8 * 1024 * 1024))
H2="$(curl -fsS -X POST -T "$TMP/big2" "$URL/v1/blobs" | jq -r .hash)"
curl -fsS "$URL/v1/blobs/$H2" -o /dev/null || fail "GET to learn the tree failed"
flip_byte "$DATA/blobs/data/${H2:0:2}/${H2:2:2}/$H2" $((5 * 1024 * 1024 + 17))
curl -sS "$URL/v1/blobs/$H2" -o "$TMP/cut" 2>/dev/null && fail "a GET over a damaged piece completed"
got=$(file_size "$TMP/cut")
((got <= 5 * 1024 * 1024)) || fail "bytes of the damaged piece were sent ($got bytes arrived)"
head -c "$got" "$TMP/big2" >"$TMP/prefix"
cmp -s "$TMP/cut" "$TMP/prefix" || fail "what arrived is not a prefix of the blob"

kill -TERM "$NODE_PID"
wait "$NODE_PID" || fail "node exited non-zero: $(tail -20 "$TMP/node.log")"
log "PASS"
