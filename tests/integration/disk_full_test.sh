#!/usr/bin/env bash
# A full disk fails puts cleanly and loses nothing. On a small tmpfs (root only):
#   - large puts until one fails: it exits 1 saying the disk is full and naming the
#     file being put and the path being written; nothing is left in blobs/temp; every
#     earlier put reads back and verify is clean, with the disk still full;
#   - a smaller file that fits still goes in; after gc removes unpinned blobs (pinned
#     ones stay), the put that failed succeeds;
#   - small (packed) puts with only a few KiB left, down to none: each either succeeds
#     and reads back or fails saying the disk is full, and then the blob is not in the
#     store; packed puts continue until one does fail (the pack may hold a reserve of
#     preallocated zeros); verify stays clean throughout; after freeing space, small and
#     large puts work again.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd b3sum cmp df mount umount

[[ "$(id -u)" == 0 ]] || skip "needs root to mount a small tmpfs (running as uid $(id -u))"
MNT="$TMP/mnt"
mkdir -p "$MNT"
mount -t tmpfs -o size=24m,mode=755 bzzz-test "$MNT" 2>"$TMP/mount.err" ||
  skip "cannot mount a tmpfs here (no CAP_SYS_ADMIN?): $(cat "$TMP/mount.err")"
on_exit "umount -l '$MNT'"
DATA="$MNT/data"
MiB=1048576
mkdir -p "$TMP/in"

avail_bytes() { echo $(($(df -B1 --output=avail "$MNT" | tail -1))); }

assert_temp_empty() {
  local left
  left="$(find "$DATA/blobs/temp" -mindepth 1 2>/dev/null | head -5)"
  [[ -z "$left" ]] || fail "$1: blobs/temp still holds: $left"
}

# assert_disk_full_error SRC DESC: the last run failed with exit 1 saying the disk is full,
# naming the file being put and something under the data dir it was writing.
assert_disk_full_error() {
  local src="$1" desc="$2"
  [[ "$RUN_RC" == 1 ]] || fail "$desc: expected exit 1 on a full disk, got $(run_dump)"
  [[ -z "$RUN_OUT" ]] || fail "$desc: a failed put printed on stdout: $RUN_OUT"
  assert_error_message "$desc"
  assert_imatch "$RUN_ERR" "no space left|disk full" "$desc: the message says the disk is full"
  assert_contains "$RUN_ERR" "$src" "$desc: the message names the file being put"
  assert_contains "$RUN_ERR" "$DATA/" "$desc: the message names the path being written"
}

# fill_leaving BYTES: a filler file takes all free space but BYTES (rounded to pages).
fill_leaving() {
  rm -f "$MNT/filler"
  dd if=/dev/zero of="$MNT/filler" bs=64k status=none 2>/dev/null || true
  if (($1 > 0)); then truncate -s "-$1" "$MNT/filler"; fi
}

# all_read_back DESC: every blob in OK (hash -> source) reads back identically.
declare -A OK=()
all_read_back() {
  local h
  for h in "${!OK[@]}"; do
    bz get "$h" >"$TMP/readback" 2>"$TMP/readback.err" || fail "$1: get $h failed: $(cat "$TMP/readback.err")"
    cmp -s "$TMP/readback" "${OK[$h]}" || fail "$1: get $h returned different bytes than ${OK[$h]}"
  done
  rm -f "$TMP/readback"
  assert_eq "$(bz ls | wc -l)" "${#OK[@]}" "$1: blobs listed vs blobs acknowledged"
}

# ---------------------------------------------------------------------------------------
log "large puts until the disk is full"
failed_src=""
ordered=()
for i in $(seq 1 20); do
  src="$TMP/in/large-$i"
  make_random "$src" $((3 * MiB))
  run bz put "$src"
  if [[ "$RUN_RC" == 0 ]]; then
    assert_eq "$RUN_OUT" "$(b3 "$src")" "put large-$i: printed hash"
    OK["$RUN_OUT"]="$src"
    ordered+=("$RUN_OUT")
    continue
  fi
  assert_disk_full_error "$src" "put large-$i on a full disk"
  failed_src="$src"
  break
done
[[ -n "$failed_src" ]] || fail "20 puts of 3 MiB fitted into a 24 MiB tmpfs: the disk never filled up"
((${#OK[@]} >= 3)) || fail "only ${#OK[@]} puts of 3 MiB fitted into 24 MiB before one failed"
log "  ${#OK[@]} puts fitted; the next failed: ${RUN_ERR}"
assert_temp_empty "after the failed large put"
run bz stat "$(b3 "$failed_src")"
[[ "$RUN_RC" == 1 ]] || fail "the blob whose put failed is in the store: $(run_dump)"

log "with the disk full, everything stored still reads back and verifies"
all_read_back "disk full"
check_clean "disk full"
# A second attempt fails the same way and leaves nothing behind either.
run bz put "$failed_src"
assert_disk_full_error "$failed_src" "repeated put on a full disk"
assert_temp_empty "after the repeated failed put"
# Standard input too.
run bz put - <"$failed_src"
[[ "$RUN_RC" == 1 ]] || fail "put - on a full disk: expected exit 1, got $(run_dump)"
assert_imatch "$RUN_ERR" "no space left|disk full" "put - on a full disk"
assert_temp_empty "after the failed put from stdin"

log "a smaller file that fits still goes in"
free="$(avail_bytes)"
small_size=$((free / 3))
((small_size > 20000)) || fail "only $free bytes free after the failed put; expected room for a smaller file"
src="$TMP/in/smaller"
make_random "$src" "$small_size"
h="$(put_ok "$src")"
OK["$h"]="$src"
all_read_back "after the smaller put"

log "after gc removes unpinned blobs, the put that failed succeeds"
keep=("${ordered[0]}" "${ordered[1]}")
bz pin add "${keep[@]}" >/dev/null || fail "pin add failed"
free_before="$(avail_bytes)"
run bz gc --grace 0
[[ "$RUN_RC" == 0 ]] || fail "gc --grace 0 on a nearly full disk: $(run_dump)"
free_after="$(avail_bytes)"
for h in "${!OK[@]}"; do
  if [[ "$h" == "${keep[0]}" || "$h" == "${keep[1]}" ]]; then continue; fi
  expect_rc 1 "get of a blob gc removed" bz get "$h"
  assert_contains "$RUN_ERR" "not found" "get of a blob gc removed"
  [[ ! -e "$(blob_file "$h")" ]] || fail "gc removed $h from the index but left its file"
  unset "OK[$h]"
done
((free_after >= free_before + 3 * MiB)) ||
  fail "gc freed only $((free_after - free_before)) bytes (from $free_before to $free_after)"
all_read_back "after gc"
h="$(put_ok "$failed_src")"
assert_eq "$h" "$(b3 "$failed_src")" "the put that failed, retried after gc"
OK["$h"]="$failed_src"
all_read_back "after the retried put"
check_clean "after the retried put"
assert_temp_empty "after the retried put"

# ---------------------------------------------------------------------------------------
log "small puts with a few KiB left"
for n in 1 2 3; do
  src="$TMP/in/pre-small-$n"
  make_random "$src" 2000
  OK["$(put_ok "$src")"]="$src"
done
# small_put_outcome SRC DESC [OPTIONS...]: a put that may succeed (then it reads back
# later) or fail because the disk is full (then the blob is not in the store). Sets
# SMALL_FAILED to 1 when it failed, and SMALL_ERR to its message.
small_put_outcome() {
  local src="$1" desc="$2"
  shift 2
  run bz "$@" put "$src"
  SMALL_FAILED=0
  if [[ "$RUN_RC" == 0 ]]; then
    assert_eq "$RUN_OUT" "$(b3 "$src")" "$desc: printed hash"
    OK["$RUN_OUT"]="$src"
    return 0
  fi
  SMALL_FAILED=1
  SMALL_ERR="$RUN_ERR"
  assert_disk_full_error "$src" "$desc"
  run bz stat "$(b3 "$src")"
  [[ "$RUN_RC" == 1 ]] || fail "$desc failed, yet the blob is in the store: $(run_dump)"
}
for left_kib in 8 4 0 12; do
  fill_leaving $((left_kib * 1024))
  for size in 16000 5000 1000; do
    src="$TMP/in/small-$left_kib-$size"
    make_random "$src" "$size"
    small_put_outcome "$src" "small put of $size bytes with ${left_kib} KiB left"
  done
  all_read_back "${left_kib} KiB left"
  check_clean "${left_kib} KiB left"
done

log "packed puts on a full disk until one fails"
# The active pack may keep zeros preallocated past its end, so a few small puts can
# still succeed on a full disk; packed puts of ~900 KiB (--small-threshold 1 MiB) use
# that reserve up quickly and then must fail cleanly.
fill_leaving 8192
packed_failed=0
for i in $(seq 1 12); do
  src="$TMP/in/packed-$i"
  make_random "$src" $((900 * 1024))
  small_put_outcome "$src" "packed put #$i of 900 KiB on a full disk" --small-threshold $MiB
  if ((SMALL_FAILED)); then
    packed_failed=1
    log "  packed put #$i failed: $SMALL_ERR"
    break
  fi
  assert_eq "$(stat_field "$(b3 "$src")" location)" pack "packed put #$i location"
done
((packed_failed)) || fail "12 packed puts of 900 KiB fitted on a disk with 8 KiB free: the disk never filled"
src="$TMP/in/small-when-full"
make_random "$src" 16000
small_put_outcome "$src" "16000-byte put once the pack's reserve is used up"
all_read_back "packed puts on a full disk"
check_clean "packed puts on a full disk"

log "after freeing space, small and large puts work again"
rm -f "$MNT/filler"
src="$TMP/in/small-after-free"
make_random "$src" 16000
OK["$(put_ok "$src")"]="$src"
src="$TMP/in/packed-after-free"
make_random "$src" $((900 * 1024))
OK["$(put_ok "$src" --small-threshold $MiB)"]="$src"
src="$TMP/in/after-free"
make_random "$src" $((2 * MiB))
OK["$(put_ok "$src")"]="$src"
all_read_back "after freeing space"
check_clean "after freeing space"
assert_temp_empty "at the end"
count="$(bz ls | wc -l)"
assert_eq "$(bz --json stats | json_field blobs)" "$count" "stats blob count vs ls line count"
echo "PASS: disk_full"
