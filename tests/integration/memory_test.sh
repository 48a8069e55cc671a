#!/usr/bin/env bash
# A put streams: peak RSS stays far below the blob's size (the issue's bound: 100 MiB
# whatever the size), for incompressible and compressible data, from a pipe (no size
# known in advance) and from a file; a get of the blob streams as well.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd /usr/bin/time b3sum

LIMIT_KB=$((100 * 1024))
peak_kb() {  # runs "$@", prints its peak RSS in KiB
  /usr/bin/time -f '%M' -o "$TMP/rss" "$@" >"$TMP/out" 2>"$TMP/err" || fail "$* failed: $(cat "$TMP/err")"
  tail -1 "$TMP/rss"
}

log "1 GiB of random bytes through a pipe"
head -c $((1 << 30)) /dev/urandom > "$TMP/random"
rss=$(peak_kb bash -c "cat '$TMP/random' | '$BZZZ_BIN' --data '$DATA' put -")
[[ $(cat "$TMP/out") == "$(b3sum --no-names "$TMP/random")" ]] || fail "wrong hash for the random blob"
(( rss < LIMIT_KB )) || fail "put of 1 GiB random peaked at ${rss} KiB (limit ${LIMIT_KB})"
log "  peak RSS ${rss} KiB"

log "the same from the file, and read back"
rss=$(peak_kb "$BZZZ_BIN" --data "$DATA" put "$TMP/random")
(( rss < LIMIT_KB )) || fail "put of a 1 GiB file peaked at ${rss} KiB"
hash=$(b3sum --no-names "$TMP/random")
rss=$(peak_kb "$BZZZ_BIN" --data "$DATA" get "$hash" -o "$TMP/back")
(( rss < LIMIT_KB )) || fail "get of 1 GiB peaked at ${rss} KiB"
cmp -s "$TMP/random" "$TMP/back" || fail "the 1 GiB blob read back differently"
rm -f "$TMP/random" "$TMP/back"

log "2 GiB of compressible text through a pipe (compressed on all cores)"
rss=$(peak_kb bash -c "yes 'the quick brown agent coordinates over the mesh' | head -c $((2 << 30)) | '$BZZZ_BIN' --data '$DATA' put -")
expect=$(set +o pipefail; yes 'the quick brown agent coordinates over the mesh' | head -c $((2 << 30)) | b3sum --no-names)
[[ $(cat "$TMP/out") == "$expect" ]] || fail "wrong hash for the compressible blob"
(( rss < LIMIT_KB )) || fail "put of 2 GiB compressible peaked at ${rss} KiB"
log "  peak RSS ${rss} KiB"
rss=$(peak_kb bash -c "'$BZZZ_BIN' --data '$DATA' get $expect | b3sum --no-names > '$TMP/got'")
[[ $(cat "$TMP/got") == "$expect" ]] || fail "the compressible blob read back differently"
(( rss < LIMIT_KB )) || fail "get of 2 GiB compressible peaked at ${rss} KiB"
bz stat "$expect" --json > /dev/null
log "PASS"
