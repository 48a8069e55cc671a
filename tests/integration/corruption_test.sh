#!/usr/bin/env bash
# Damaged data is detected, reported and never served:
#   - one flipped byte in a large blob file (raw, zstd, gzip) or a truncated one makes
#     `get` exit 1 naming the hash and "corrupt", print nothing, leave no -o file (nor
#     touch an existing one), and makes `verify` exit 1 naming the hash;
#   - the same for a small blob inside a pack (raw payload found by a marker string,
#     and a zstd payload at its documented offset), without harming its neighbours;
#   - a deleted blob file is reported missing; stray files under blobs/data orphaned;
#   - `index rebuild` after losing the index restores every blob and pin, keeps what gc
#     removed removed, and keeps optimize's codec.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd b3sum cmp grep truncate

MiB=1048576
mkdir -p "$TMP/in"

# expect_corrupt_get HASH DESC: get fails cleanly on a blob whose stored bytes are bad.
expect_corrupt_get() {
  local h="$1" desc="$2" out="$TMP/out-$1"
  run bz get "$h"
  [[ "$RUN_RC" == 1 ]] || fail "$desc: get of a corrupt blob should exit 1, got exit $RUN_RC; stderr: ${RUN_ERR:0:500}"
  [[ -z "$RUN_OUT" ]] || fail "$desc: get of a corrupt blob wrote ${#RUN_OUT} bytes to stdout; nothing unverified may be served"
  assert_error_message "$desc: get"
  assert_contains "$RUN_ERR" "$h" "$desc: get error names the hash"
  assert_contains "$RUN_ERR" "corrupt" "$desc: get error says corrupt"
  rm -f "$out"
  run bz get "$h" -o "$out"
  [[ "$RUN_RC" == 1 ]] || fail "$desc: get -o of a corrupt blob should exit 1, got $(run_dump)"
  assert_contains "$RUN_ERR" "$h" "$desc: get -o error names the hash"
  assert_contains "$RUN_ERR" "corrupt" "$desc: get -o error says corrupt"
  [[ ! -e "$out" ]] || fail "$desc: get -o of a corrupt blob left $out behind ($(file_size "$out") bytes)"
  local partial
  partial="$(find "$TMP" -maxdepth 1 -name "out-$h*" | head -3)"
  [[ -z "$partial" ]] || fail "$desc: get -o of a corrupt blob left partial files: $partial"
  # An existing target is left exactly as it was.
  printf 'precious\n' >"$out"
  run bz get "$h" -o "$out"
  [[ "$RUN_RC" == 1 ]] || fail "$desc: get -o onto an existing file should exit 1, got $(run_dump)"
  assert_eq "$(cat "$out")" "precious" "$desc: existing -o target after a failed get"
  rm -f "$out"
}

# expect_verify_problem KIND OBJECT DESC: verify exits 1 and lists "KIND  OBJECT".
expect_verify_problem() {
  local kind="$1" object="$2" desc="$3"
  run bz verify
  [[ "$RUN_RC" == 1 ]] || fail "$desc: verify should exit 1, got $(run_dump)"
  grep -Eq "^$kind +$object( |\$)" <<<"$RUN_OUT" ||
    fail "$desc: verify should list '$kind $object', it printed: $RUN_OUT"
  assert_not_contains "$RUN_OUT" "store is clean" "$desc: verify summary"
}

# pack_offset_of FILE MARKER: the one byte offset of MARKER in FILE.
pack_offset_of() {
  local hits
  hits="$(LC_ALL=C grep -obUaF -- "$2" "$1" | cut -d: -f1)"
  [[ "$(wc -l <<<"$hits")" == 1 && -n "$hits" ]] || fail "marker $2 found ${hits:-no} times in $1, expected once"
  printf '%s\n' "$hits"
}

test_large_raw() {
  DATA="$TMP/large-raw"
  make_random "$TMP/in/neighbour" $((300 * 1024))
  make_random "$TMP/in/large" $((2 * MiB + 7))
  hn="$(put_ok "$TMP/in/neighbour")"
  h="$(put_ok "$TMP/in/large")"
  assert_eq "$(stat_field "$h" codec)" raw "random large blob codec"
  check_clean "before damage"
  flip_byte "$(blob_file "$h")" $((MiB + 12345))
  expect_corrupt_get "$h" "large raw blob with a flipped byte"
  expect_verify_problem bad "$h" "large raw blob with a flipped byte"
  get_matches "$hn" "$TMP/in/neighbour" "undamaged neighbour of a corrupt blob"
  # The first byte and the last byte matter too.
  flip_byte "$(blob_file "$h")" $((MiB + 12345))
  check_clean "after undoing the flip"
  flip_byte "$(blob_file "$h")" 0
  expect_corrupt_get "$h" "large raw blob with its first byte flipped"
  flip_byte "$(blob_file "$h")" 0
  flip_byte "$(blob_file "$h")" $((2 * MiB + 6))
  expect_corrupt_get "$h" "large raw blob with its last byte flipped"
  flip_byte "$(blob_file "$h")" $((2 * MiB + 6))
  get_matches "$h" "$TMP/in/large" "large raw blob after undoing the flips"

  log "a truncated large blob file"
  truncate -s -1 "$(blob_file "$h")"
  expect_corrupt_get "$h" "truncated large blob"
  expect_verify_problem bad "$h" "truncated large blob"
}

test_large_compressed() {
  for codec in zstd gzip; do
    DATA="$TMP/large-$codec"
    make_text "$TMP/in/text-$codec" $((3 * MiB)) "$codec"
    h="$(put_ok "$TMP/in/text-$codec" --compression "$codec")"
    assert_eq "$(stat_field "$h" codec)" "$codec" "compressible large blob codec"
    f="$(blob_file "$h")"
    flip_byte "$f" $(($(file_size "$f") / 2))
    expect_corrupt_get "$h" "large $codec blob with a flipped byte"
    expect_verify_problem bad "$h" "large $codec blob with a flipped byte"
  done
}

test_packed() {
  DATA="$TMP/pack-raw"
  marker="BZZZ-TEST-MARKER-$$-$RANDOM$RANDOM"
  make_random "$TMP/in/small-before" 3000
  { head -c 2000 /dev/urandom; printf '%s' "$marker"; head -c 2000 /dev/urandom; } >"$TMP/in/small"
  make_random "$TMP/in/small-after" 4000
  hb="$(put_ok "$TMP/in/small-before")"
  h="$(put_ok "$TMP/in/small")"
  ha="$(put_ok "$TMP/in/small-after")"
  assert_eq "$(stat_field "$h" location)" pack "small blob location"
  assert_eq "$(stat_field "$h" codec)" raw "small random blob codec"
  pack="$DATA/blobs/packs/pack-00000001.pack"
  [[ -f "$pack" ]] || fail "expected the small blobs in $pack"
  off="$(pack_offset_of "$pack" "$marker")"
  flip_byte "$pack" $((off + 5))
  expect_corrupt_get "$h" "small packed blob with a flipped byte"
  expect_verify_problem bad "$h" "small packed blob with a flipped byte"
  get_matches "$hb" "$TMP/in/small-before" "packed blob before the damaged one"
  get_matches "$ha" "$TMP/in/small-after" "packed blob after the damaged one"
  run bz verify
  problems="$(grep -Ec '^(bad|missing|orphaned) ' <<<"$RUN_OUT" || true)"
  assert_eq "$problems" 1 "verify problem lines with one damaged packed blob (output: $RUN_OUT)"

  log "a flipped byte in a small zstd blob inside a pack"
  DATA="$TMP/pack-zstd"
  make_text "$TMP/in/small-text" 12000 smallz
  h="$(put_ok "$TMP/in/small-text")"
  assert_eq "$(stat_field "$h" codec)" zstd "small compressible blob codec"
  stored="$(stat_field "$h" stored_size)"
  pack="$DATA/blobs/packs/pack-00000001.pack"
  # The only record of a fresh pack: 16-byte file header, 72-byte record header, payload.
  # (The pack may be longer: zeros preallocated past the log's end.)
  (($(file_size "$pack") >= 16 + 72 + stored)) || fail "$pack is shorter than one record of $stored bytes"
  flip_byte "$pack" $((16 + 72 + stored / 2))
  expect_corrupt_get "$h" "small zstd blob with a flipped byte"
  expect_verify_problem bad "$h" "small zstd blob with a flipped byte"
}

test_missing() {
  DATA="$TMP/missing"
  make_random "$TMP/in/gone" $((100 * 1024))
  make_random "$TMP/in/stays" $((100 * 1024))
  h="$(put_ok "$TMP/in/gone")"
  hs="$(put_ok "$TMP/in/stays")"
  rm -f "$(blob_file "$h")"
  expect_verify_problem missing "$h" "deleted blob file"
  run bz get "$h" -o "$TMP/out-gone"
  [[ "$RUN_RC" == 1 ]] || fail "get of a blob whose file was deleted should exit 1, got $(run_dump)"
  assert_contains "$RUN_ERR" "$h" "get of a missing blob file names the hash"
  assert_contains "$RUN_ERR" "missing" "get of a missing blob file says missing"
  [[ ! -e "$TMP/out-gone" ]] || fail "get -o of a missing blob left a file"
  get_matches "$hs" "$TMP/in/stays" "blob next to a missing one"
}

test_orphans() {
  DATA="$TMP/orphans"
  make_random "$TMP/in/real" $((64 * 1024))
  h="$(put_ok "$TMP/in/real")"
  check_clean "before the stray files"
  mkdir -p "$DATA/blobs/data/ab/cd"
  stray="$DATA/blobs/data/ab/cd/abcd$(head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  make_random "$stray" 20000
  expect_verify_problem orphaned "$stray" "blob-named file the index does not know"
  rm -f "$stray"
  junk="$DATA/blobs/data/ab/cd/notes.txt"
  echo "not a blob" >"$junk"
  expect_verify_problem orphaned "$junk" "junk file in a shard directory"
  rm -f "$junk"
  check_clean "after removing the stray files"
}

# populate_rebuild_store: fills $DATA with blobs of every kind (empty, small raw/zstd,
# large raw/zstd/gzip-then-optimized, raw-then-optimized), pins (one twice, one pinned
# and unpinned), and two blobs gc removed. Sets SRC (hash -> source file), LS_BEFORE,
# PINS_BEFORE, HD1 and HD2 (the removed ones).
populate_rebuild_store() {
  local in="$DATA.in" name ho h_rs h_rl h_tl h_e
  mkdir -p "$in"
  make_random "$in/doomed-small" 900
  make_random "$in/doomed-large" $((40 * 1024))
  HD1="$(put_ok "$in/doomed-small")"
  HD2="$(put_ok "$in/doomed-large")"
  run bz gc --grace 0
  [[ "$RUN_RC" == 0 ]] || fail "gc --grace 0: $(run_dump)"
  expect_rc 1 "get of a gc'd blob" bz get "$HD1"
  declare -gA SRC=()
  : >"$in/empty"
  make_random "$in/r-small" 5000
  make_text "$in/t-small" 14000 rsmall
  make_random "$in/r-large" $((MiB + 100))
  make_text "$in/t-large" $((2 * MiB)) rlarge
  make_text "$in/g-large" $((MiB)) glarge
  make_text "$in/o-large" $((MiB + 5)) olarge
  for name in empty r-small t-small r-large t-large; do SRC["$(put_ok "$in/$name")"]="$in/$name"; done
  SRC["$(put_ok "$in/g-large" --compression gzip)"]="$in/g-large"
  ho="$(put_ok "$in/o-large" --compression none)"
  SRC["$ho"]="$in/o-large"
  bz --compression zstd optimize >/dev/null || fail "optimize before the rebuild failed"
  assert_eq "$(stat_field "$ho" codec)" zstd "o-large codec after optimize"
  h_rs="$(b3 "$in/r-small")"
  h_rl="$(b3 "$in/r-large")"
  h_tl="$(b3 "$in/t-large")"
  h_e="$(b3 "$in/empty")"
  bz pin add "$h_rs" "$h_rs" "$h_rl" "$h_tl" "$h_e" >/dev/null || fail "pin add failed"
  bz pin rm "$h_tl" >/dev/null || fail "pin rm failed"
  bz pin add "$ho" >/dev/null || fail "pin add $ho failed"
  LS_BEFORE="$(bz ls)"
  PINS_BEFORE="$(bz pin ls)"
  assert_eq "$(wc -l <<<"$LS_BEFORE")" 7 "blobs listed before the rebuild"
  assert_eq "$(wc -l <<<"$PINS_BEFORE")" 4 "pins listed before the rebuild"
  check_clean "before the rebuild"
}

# rebuild_and_compare DESC: index rebuild, then everything populate_rebuild_store made
# is there again exactly as before (ls, pin ls, bytes), and the gc'd blobs are not.
rebuild_and_compare() {
  local desc="$1" h
  run bz index rebuild
  [[ "$RUN_RC" == 0 ]] || fail "$desc: index rebuild: $(run_dump)"
  assert_contains "$RUN_OUT" "index rebuilt: 7 blobs" "$desc: index rebuild report"
  assert_eq "$(bz ls)" "$LS_BEFORE" "$desc: ls after the rebuild vs before"
  assert_eq "$(bz pin ls)" "$PINS_BEFORE" "$desc: pin ls after the rebuild vs before"
  for h in "${!SRC[@]}"; do get_matches "$h" "${SRC[$h]}" "$desc: blob $h"; done
  expect_rc 1 "$desc: gc'd small blob stays gone" bz get "$HD1"
  assert_contains "$RUN_ERR" "not found" "$desc: gc'd blob after the rebuild"
  expect_rc 1 "$desc: gc'd large blob stays gone" bz get "$HD2"
  check_clean "$desc: after the rebuild"
  assert_eq "$(bz --json stats | json_field blobs)" 7 "$desc: stats blob count after the rebuild"
}

test_rebuild() {
  DATA="$TMP/rebuild"
  populate_rebuild_store
  log "  over an intact index"
  rebuild_and_compare "rebuild over an intact index"
  log "  after deleting index/data.mdb and index/lock.mdb"
  rm -f "$DATA/index/data.mdb" "$DATA/index/lock.mdb"
  rebuild_and_compare "rebuild after deleting the LMDB files"
}

test_rebuild_without_index_dir() {
  DATA="$TMP/rebuild-no-index-dir"
  populate_rebuild_store
  rm -rf "$DATA/index"
  rebuild_and_compare "rebuild after deleting the index dir"
}

test_rebuild_damaged_pack() {
  DATA="$TMP/rebuild-damaged"
  local marker="BZZZ-TEST-MARKER-$$-$RANDOM$RANDOM" n pack off
  make_random "$TMP/in/p1" 3000
  { head -c 1000 /dev/urandom; printf '%s' "$marker"; head -c 1000 /dev/urandom; } >"$TMP/in/p2"
  make_random "$TMP/in/p3" 3000
  make_random "$TMP/in/p4" 3000
  for n in p1 p2 p3 p4; do put_ok "$TMP/in/$n" >/dev/null; done
  pack="$DATA/blobs/packs/pack-00000001.pack"
  off="$(pack_offset_of "$pack" "$marker")"
  flip_byte "$pack" $((off + 3))
  expect_corrupt_get "$(b3 "$TMP/in/p2")" "damaged p2 before the rebuild"
  # Whatever rebuild says about p2, the intact records around it must survive it.
  run bz index rebuild
  [[ "$RUN_RC" == 0 || "$RUN_RC" == 1 ]] || fail "index rebuild over a damaged pack: $(run_dump)"
  for n in p1 p3 p4; do
    run bz get "$(b3 "$TMP/in/$n")" -o "$TMP/out-$n"
    [[ "$RUN_RC" == 0 ]] ||
      fail "index rebuild over a pack with one damaged record (p2) lost the intact blob $n written after it: $(run_dump)"
    cmp -s "$TMP/out-$n" "$TMP/in/$n" || fail "blob $n differs after the rebuild"
  done
  # The damaged blob must not come back as if it were fine.
  run bz get "$(b3 "$TMP/in/p2")"
  [[ "$RUN_RC" != 0 ]] || fail "after the rebuild, get of the damaged blob p2 succeeded"
}

# ---------------------------------------------------------------------------------------
section "a flipped byte in a large raw blob file" test_large_raw
section "a flipped byte in a large compressed blob file (zstd, gzip)" test_large_compressed
section "a flipped byte in a small raw blob inside a pack" test_packed
section "a deleted large blob file is reported missing" test_missing
section "stray files under blobs/data are reported orphaned" test_orphans
section "index rebuild restores every blob and pin" test_rebuild
section "index rebuild after deleting the whole index dir restores every blob and pin" \
  test_rebuild_without_index_dir
section "index rebuild over a pack with one damaged record keeps the intact records" \
  test_rebuild_damaged_pack
finish_tests corruption
