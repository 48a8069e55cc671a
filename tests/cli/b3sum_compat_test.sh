#!/usr/bin/env bash
# bzzz hashes are BLAKE3 exactly as b3sum computes them, and put/get round-trips bytes.
#
# For sizes around BLAKE3's chunk (1024) and block (64) boundaries, the store's pack /
# file threshold (16 KiB) and its 1 MiB probe, plus a random 100 MiB file:
#   - `bzzz hash FILE` prints the very line `b3sum FILE` prints;
#   - `bzzz put FILE` prints b3sum's hash, and so do `hash -` and `put -` from stdin;
#   - `get HASH` and `get HASH -o FILE` return the identical bytes (random and
#     compressible content, so raw, packed and compressed paths are all exercised).
#
# `cat FILE | bzzz ... -` is on purpose below: a pipe, unlike a redirected file, cannot be
# mapped or seeked.
# shellcheck disable=SC2002
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd b3sum cmp

SIZES=(0 1 63 64 65 1023 1024 1025 2048 2049 16383 16384 16385 65536
       1048575 1048576 $((1048576 + 1)) $((3 * 1048576 + 17)))
BIG=$((100 * 1048576))

mkdir -p "$TMP/in"
declare -a FILES=()
for n in "${SIZES[@]}"; do
  make_random "$TMP/in/random-$n" "$n"
  FILES+=("$TMP/in/random-$n")
  if ((n > 0)); then
    make_text "$TMP/in/text-$n" "$n" "t$n"
    FILES+=("$TMP/in/text-$n")
  fi
done
make_random "$TMP/in/random-100MiB" "$BIG"
FILES+=("$TMP/in/random-100MiB")

log "bzzz hash FILE prints b3sum's line"
for f in "${FILES[@]}"; do
  want="$(b3sum -- "$f")"
  run "$BZZZ_BIN" hash "$f"
  [[ "$RUN_RC" == 0 ]] || fail "bzzz hash $f: $(run_dump)"
  assert_eq "$RUN_OUT" "$want" "bzzz hash $f vs b3sum $f"
done

log "bzzz hash with several files, relative names and a name with spaces"
cp "$TMP/in/random-1025" "$TMP/in/name with  spaces"
(
  cd "$TMP/in" || exit 1
  want="$(b3sum random-0 text-65 "name with  spaces" ./random-2049)"
  got="$("$BZZZ_BIN" hash random-0 text-65 "name with  spaces" ./random-2049)" ||
    fail "bzzz hash of several relative files failed"
  assert_eq "$got" "$want" "bzzz hash of several files vs b3sum"
)

log "bzzz --threads 1 hash agrees with the default thread count"
for f in "$TMP/in/random-100MiB" "$TMP/in/text-$((3 * 1048576 + 17))"; do
  want="$(b3sum -- "$f")"
  got="$("$BZZZ_BIN" --threads 1 hash "$f")" || fail "bzzz --threads 1 hash $f failed"
  assert_eq "$got" "$want" "bzzz --threads 1 hash $f"
done

log "bzzz hash - reads standard input (file redirect and pipe)"
for n in 0 1 1025 65536 $((1048576 + 1)); do
  f="$TMP/in/random-$n"
  want="$(b3sum - <"$f")"
  got="$("$BZZZ_BIN" hash - <"$f")" || fail "bzzz hash - < $f failed"
  assert_eq "$got" "$want" "bzzz hash - < random-$n vs b3sum -"
  got="$(cat "$f" | "$BZZZ_BIN" hash -)" || fail "cat $f | bzzz hash - failed"
  assert_eq "$got" "$want" "cat random-$n | bzzz hash - vs b3sum -"
done
f="$TMP/in/random-100MiB"
got="$(cat "$f" | "$BZZZ_BIN" hash -)" || fail "cat random-100MiB | bzzz hash - failed"
assert_eq "$got" "$(b3sum - <"$f")" "cat random-100MiB | bzzz hash -"

log "bzzz --json hash reports the same hash"
doc="$("$BZZZ_BIN" --json hash "$TMP/in/random-2049")"
got="$(json_field '[0].hash' <<<"$doc")"
assert_eq "$got" "$(b3 "$TMP/in/random-2049")" "bzzz --json hash .[0].hash"

log "bzzz put FILE prints b3sum's hash; get returns identical bytes"
declare -A HASH_OF=()
for f in "${FILES[@]}"; do
  h="$(put_ok "$f")"
  assert_eq "$h" "$(b3 "$f")" "bzzz put $(basename "$f") printed hash"
  HASH_OF["$f"]="$h"
  get_matches "$h" "$f" "put/get $(basename "$f")"
done

log "ls lists each distinct blob once"
distinct="$(printf '%s\n' "${HASH_OF[@]}" | sort -u)"
listed="$(bz ls | awk '{print $1}' | sort)"
assert_eq "$listed" "$distinct" "hashes listed by ls vs hashes put"

log "bzzz put - from stdin (redirect and pipe) prints the same hash and dedups"
for n in 0 1 1024 16385 $((1048576 + 1)); do
  f="$TMP/in/random-$n"
  h="$(put_ok - <"$f")"
  assert_eq "$h" "$(b3 "$f")" "bzzz put - < random-$n"
  h="$(cat "$f" | put_ok -)"
  assert_eq "$h" "$(b3 "$f")" "cat random-$n | bzzz put -"
  doc="$(bz --json put - <"$f")" || fail "bzzz --json put - < random-$n failed"
  assert_eq "$(json_field deduplicated <<<"$doc")" "true" "re-put of random-$n is deduplicated"
  get_matches "$h" "$f" "put - / get random-$n"
done
f="$TMP/in/random-100MiB"
h="$(cat "$f" | put_ok -)"
assert_eq "$h" "$(b3 "$f")" "cat random-100MiB | bzzz put -"

log "new content from a pipe is stored correctly"
make_text "$TMP/in/piped" $((2 * 1048576 + 5)) piped
h="$(cat "$TMP/in/piped" | put_ok -)"
assert_eq "$h" "$(b3 "$TMP/in/piped")" "cat piped | bzzz put -"
get_matches "$h" "$TMP/in/piped" "piped put"
h="$(head -c 5000 "$TMP/in/piped" | put_ok -)"
assert_eq "$h" "$(head -c 5000 "$TMP/in/piped" | b3sum --no-names)" "small piped put"

log "get by CID returns the same bytes as get by hex"
h="${HASH_OF[$TMP/in/random-65536]}"
cid="$(stat_field "$h" cid)"
[[ "$cid" == b* ]] || fail "stat $h: cid '$cid' is not a base32 CIDv1"
bz get "$cid" >"$TMP/by-cid" || fail "get $cid failed"
cmp -s "$TMP/by-cid" "$TMP/in/random-65536" || fail "get by CID $cid returned different bytes"

check_clean "after all puts"

count="$(bz ls | wc -l)"
blobs="$(bz --json stats | json_field blobs)"
assert_eq "$blobs" "$count" "stats blob count vs ls line count"
# Last, so a failure here does not hide the results above.
log "bzzz hash of names b3sum has to escape (backslash, newline)"
# b3sum escapes a backslash or newline in a name and marks the line with a leading '\'.
weird="$TMP/in/back\\slash"
cp "$TMP/in/random-64" "$weird"
want="$(b3sum -- "$weird")"
run "$BZZZ_BIN" hash "$weird"
[[ "$RUN_RC" == 0 ]] || fail "bzzz hash '$weird': $(run_dump)"
assert_eq "$RUN_OUT" "$want" "bzzz hash of a name with a backslash vs b3sum"
weird="$TMP/in/new
line"
cp "$TMP/in/random-64" "$weird"
want="$(b3sum -- "$weird")"
run "$BZZZ_BIN" hash "$weird"
[[ "$RUN_RC" == 0 ]] || fail "bzzz hash of a name with a newline: $(run_dump)"
assert_eq "$RUN_OUT" "$want" "bzzz hash of a name with a newline vs b3sum"

echo "PASS: b3sum_compat"
