#!/usr/bin/env bash
# Compression: what ends up on disk for each codec, and that it always reads back.
#   - compressible 100 MiB under zstd (the default) takes < 20% on disk (blob file, the
#     whole data dir, stat's stored_size), and the blob file is one zstd frame;
#   - incompressible 100 MiB is stored raw: codec raw, stored_size == size, the blob
#     file is the original bytes;
#   - --compression gzip stores a gzip member that reads back (large and packed);
#   - --compression none stores raw even when compression would pay;
#   - optimize with another codec rewrites blobs (large and packed), and get still
#     returns identical bytes; nothing is left behind in blobs/temp.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd b3sum cmp du zstd gzip

MiB=1048576
mkdir -p "$TMP/in"

# assert_temp_empty DESC: no staging file outlives a command.
assert_temp_empty() {
  local left
  left="$(find "$DATA/blobs/temp" -mindepth 1 2>/dev/null | head -5)"
  [[ -z "$left" ]] || fail "$1: blobs/temp still holds: $left"
}

# assert_meta HASH CODEC LOCATION DESC
assert_meta() {
  local doc
  doc="$(bz --json stat "$1")" || fail "$4: stat $1 failed"
  assert_eq "$(json_field codec <<<"$doc")" "$2" "$4: codec of $1"
  assert_eq "$(json_field location <<<"$doc")" "$3" "$4: location of $1"
}

log "compressible 100 MiB under the default codec (zstd)"
make_text "$TMP/in/text100" $((100 * MiB)) big
h="$(put_ok "$TMP/in/text100")"
assert_eq "$h" "$(b3 "$TMP/in/text100")" "put text100 hash"
assert_meta "$h" zstd file "text100"
size="$(stat_field "$h" size)"
stored="$(stat_field "$h" stored_size)"
assert_eq "$size" $((100 * MiB)) "text100 stat size"
((stored * 5 < size)) || fail "text100: stored_size $stored is not under 20% of $size"
f="$(blob_file "$h")"
[[ -f "$f" ]] || fail "text100: blob file $f does not exist"
on_disk="$(du -sb "$f" | cut -f1)"
assert_eq "$on_disk" "$stored" "text100: du -sb of the blob file vs stat stored_size"
assert_eq "$(file_size "$f")" "$stored" "text100: size of the blob file vs stat stored_size"
# Allocated blocks too (du -sB1 counts them), so a sparse or preallocated file cannot pass.
allocated="$(du -sB1 "$f" | cut -f1)"
((allocated * 5 < size)) || fail "text100: blob file occupies $allocated bytes on disk, not under 20% of $size"
dir_bytes="$(du -sb "$DATA" | cut -f1)"
((dir_bytes * 5 < size)) || fail "text100: data dir holds $dir_bytes bytes (du -sb), not under 20% of $size"
dir_alloc="$(du -sB1 "$DATA" | cut -f1)"
((dir_alloc * 5 < size)) || fail "text100: data dir occupies $dir_alloc bytes (du -sB1), not under 20% of $size"
assert_temp_empty "after put text100"
# The stored form is exactly one zstd frame of the original bytes.
zstd -dc <"$f" | cmp -s - "$TMP/in/text100" || fail "text100: blob file is not a zstd frame of the original bytes"
get_matches "$h" "$TMP/in/text100" "text100"
doc="$(bz --json stats)"
assert_eq "$(json_field codecs.zstd <<<"$doc")" 1 "stats codecs.zstd after text100"
assert_eq "$(json_field stored_bytes <<<"$doc")" "$stored" "stats stored_bytes after text100"
ratio_ok="$(json_field compression_ratio <<<"$doc" | awk '{print ($1 < 0.2) ? "yes" : "no"}')"
assert_eq "$ratio_ok" yes "stats compression_ratio under 0.2"
rm -f "$TMP/in/text100"

log "incompressible 100 MiB is stored raw"
make_random "$TMP/in/random100" $((100 * MiB))
h="$(put_ok "$TMP/in/random100")"
assert_eq "$h" "$(b3 "$TMP/in/random100")" "put random100 hash"
assert_meta "$h" raw file "random100"
assert_eq "$(stat_field "$h" stored_size)" "$(stat_field "$h" size)" "random100 stored_size vs size"
f="$(blob_file "$h")"
cmp -s "$f" "$TMP/in/random100" || fail "random100: blob file $f is not the original bytes"
assert_temp_empty "after put random100"
get_matches "$h" "$TMP/in/random100" "random100"
rm -f "$TMP/in/random100"
check_clean "after the 100 MiB puts"

log "--compression gzip stores gzip, large and packed"
make_text "$TMP/in/gz-large" $((6 * MiB + 3)) gzlarge
make_text "$TMP/in/gz-small" 12000 gzsmall
h="$(put_ok "$TMP/in/gz-large" --compression gzip)"
assert_eq "$h" "$(b3 "$TMP/in/gz-large")" "gzip put hash"
assert_meta "$h" gzip file "gz-large"
stored="$(stat_field "$h" stored_size)"
((stored * 5 < $(file_size "$TMP/in/gz-large"))) || fail "gz-large: stored_size $stored is not under 20%"
gzip -dc <"$(blob_file "$h")" | cmp -s - "$TMP/in/gz-large" ||
  fail "gz-large: blob file is not a gzip member of the original bytes"
get_matches "$h" "$TMP/in/gz-large" "gz-large"
# Reading does not depend on the codec configured for new blobs.
bz --compression none get "$h" | cmp -s - "$TMP/in/gz-large" ||
  fail "gz-large: get with --compression none returned different bytes"
hs="$(put_ok "$TMP/in/gz-small" --compression gzip)"
assert_meta "$hs" gzip pack "gz-small"
stored="$(stat_field "$hs" stored_size)"
((stored < 12000 / 2)) || fail "gz-small: stored_size $stored, expected a real gzip saving"
get_matches "$hs" "$TMP/in/gz-small" "gz-small"
assert_eq "$(bz --json stats | json_field codecs.gzip)" 2 "stats codecs.gzip"
assert_temp_empty "after gzip puts"

log "--compression none stores raw, large and packed, even when compression would pay"
make_text "$TMP/in/none-large" $((5 * MiB)) nonelarge
make_text "$TMP/in/none-small" 9000 nonesmall
hl="$(put_ok "$TMP/in/none-large" --compression none)"
assert_meta "$hl" raw file "none-large"
assert_eq "$(stat_field "$hl" stored_size)" $((5 * MiB)) "none-large stored_size"
cmp -s "$(blob_file "$hl")" "$TMP/in/none-large" || fail "none-large: blob file is not the original bytes"
hs="$(put_ok "$TMP/in/none-small" --compression none)"
assert_meta "$hs" raw pack "none-small"
assert_eq "$(stat_field "$hs" stored_size)" 9000 "none-small stored_size"
# A raw packed blob's bytes appear verbatim in the pack.
pack="$DATA/blobs/packs/pack-00000001.pack"
LC_ALL=C grep -qaF -- "$(head -n 1 "$TMP/in/none-small")" "$pack" || fail "none-small: raw bytes not found in $pack"
get_matches "$hl" "$TMP/in/none-large" "none-large"
get_matches "$hs" "$TMP/in/none-small" "none-small"
# Also "raw", the name stat reports.
make_text "$TMP/in/raw-large" $((2 * MiB)) rawname
hr="$(put_ok "$TMP/in/raw-large" --compression raw)"
assert_meta "$hr" raw file "--compression raw"

log "a small compressible blob is packed compressed under the default codec"
make_text "$TMP/in/z-small" 15000 zsmall
hz="$(put_ok "$TMP/in/z-small")"
assert_meta "$hz" zstd pack "z-small"
stored="$(stat_field "$hz" stored_size)"
((stored < 15000 / 2)) || fail "z-small: stored_size $stored, expected a real zstd saving"
get_matches "$hz" "$TMP/in/z-small" "z-small"
make_random "$TMP/in/r-small" 15000
hrs="$(put_ok "$TMP/in/r-small")"
assert_meta "$hrs" raw pack "incompressible small blob"
assert_eq "$(stat_field "$hrs" stored_size)" 15000 "incompressible small blob stored_size"
check_clean "after the codec puts"

log "--compression zstd optimize recompresses blobs stored raw"
before_large="$(stat_field "$hl" stored_size)"
run bz --compression zstd optimize
[[ "$RUN_RC" == 0 ]] || fail "optimize: $(run_dump)"
assert_contains "$RUN_OUT" "rewrote" "optimize report"
rewritten="$(sed -n 's/.*rewrote \([0-9]*\).*/\1/p' <<<"$RUN_OUT")"
# none-large, none-small, raw-large, and both gzip blobs become zstd.
((rewritten >= 3)) || fail "optimize rewrote $rewritten blobs, expected at least the 3 raw compressible ones: $RUN_OUT"
assert_meta "$hl" zstd file "none-large after optimize"
assert_meta "$hs" zstd pack "none-small after optimize"
assert_meta "$hr" zstd file "raw-large after optimize"
after_large="$(stat_field "$hl" stored_size)"
((after_large * 5 < before_large)) || fail "none-large: optimize left stored_size $after_large of $before_large"
assert_eq "$(file_size "$(blob_file "$hl")")" "$after_large" "none-large blob file size after optimize"
zstd -dc <"$(blob_file "$hl")" | cmp -s - "$TMP/in/none-large" ||
  fail "none-large: after optimize the blob file is not a zstd frame of the original bytes"
get_matches "$hl" "$TMP/in/none-large" "none-large after optimize"
get_matches "$hs" "$TMP/in/none-small" "none-small after optimize"
get_matches "$hr" "$TMP/in/raw-large" "raw-large after optimize"
get_matches "$h" "$TMP/in/gz-large" "gz-large after optimize"
get_matches "$hz" "$TMP/in/z-small" "z-small after optimize"
get_matches "$hrs" "$TMP/in/r-small" "r-small after optimize"
assert_meta "$hrs" raw pack "incompressible small blob after optimize"
assert_temp_empty "after optimize"
check_clean "after optimize to zstd"

log "optimize is idempotent: a second run rewrites nothing"
run bz --compression zstd optimize
[[ "$RUN_RC" == 0 ]] || fail "second optimize: $(run_dump)"
assert_contains "$RUN_OUT" "rewrote 0" "second optimize with the same codec"

log "--compression none optimize turns them back into raw"
run bz --compression none optimize
[[ "$RUN_RC" == 0 ]] || fail "optimize to none: $(run_dump)"
assert_meta "$hl" raw file "none-large after optimize to none"
assert_meta "$hs" raw pack "none-small after optimize to none"
assert_eq "$(stat_field "$hl" stored_size)" $((5 * MiB)) "none-large stored_size after optimize to none"
cmp -s "$(blob_file "$hl")" "$TMP/in/none-large" || fail "none-large: raw blob file after optimize differs from the original"
for pair in "$hl:none-large" "$hs:none-small" "$hr:raw-large" "$h:gz-large" "$hz:z-small"; do
  get_matches "${pair%%:*}" "$TMP/in/${pair#*:}" "${pair#*:} after optimize to none"
done
assert_temp_empty "after optimize to none"
check_clean "after optimize to none"

log "stats agree with ls"
count="$(bz ls | wc -l)"
assert_eq "$(bz --json stats | json_field blobs)" "$count" "stats blob count vs ls line count"
echo "PASS: compression"
