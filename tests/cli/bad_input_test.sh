#!/usr/bin/env bash
# Bad input is refused with the right exit code and a message naming the bad thing,
# and leaves the store as it was (verify clean, same blobs, same pins):
#   exit 2 (usage): malformed hashes and CIDs, unknown subcommands/options, missing
#     arguments, bad --grace / --compression / --min-savings, get --json without -o;
#   exit 1 (failure): unknown blobs, missing files, unusable data dirs, pin rm of an
#     unpinned blob, pin add of an unknown one, get -o into a missing directory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd b3sum basenc

MiB=1048576
mkdir -p "$TMP/in"
make_random "$TMP/in/small" 3000
make_random "$TMP/in/large" $((200 * 1024))
H_SMALL="$(put_ok "$TMP/in/small")"
H_LARGE="$(put_ok "$TMP/in/large")"
bz pin add "$H_LARGE" >/dev/null || fail "pin add $H_LARGE failed"
LS_BASE="$(bz ls)"
PINS_BASE="$(bz pin ls)"
# A well-formed hash of content the store does not hold.
UNKNOWN="$(printf 'not stored %s' "$RANDOM" | b3sum --no-names)"

# unchanged DESC: after a refused command the store is clean and exactly as before.
unchanged() {
  check_clean "$1"
  assert_eq "$(bz ls)" "$LS_BASE" "$1: ls after the refused command"
  assert_eq "$(bz pin ls)" "$PINS_BASE" "$1: pin ls after the refused command"
}

# refused WANT_RC DESC CMD...: CMD exits WANT_RC with one "bzzz: ..." error, prints no
# result on stdout, and the store is unchanged. Leaves RUN_ERR for further checks.
refused() {
  local want="$1" desc="$2"
  shift 2
  expect_rc "$want" "$desc" "$@"
  [[ -z "$RUN_OUT" ]] || fail "$desc: a refused command printed on stdout: ${RUN_OUT:0:500}"
  [[ -n "$RUN_ERR" ]] || fail "$desc: no error message on stderr"
  local err_save="$RUN_ERR"
  unchanged "$desc"
  RUN_ERR="$err_save"
}

# cid_of HEX CODEC MULTIHASH: a base32 CIDv1 with the given codec/multihash codes
# (one-byte varints) around the 32-byte digest HEX.
cid_of() {
  local bytes
  bytes="$(printf '01%s%s20%s' "$2" "$3" "$1" | sed 's/../\\x&/g')"
  printf 'b%s' "$(printf '%b' "$bytes" | basenc --base32 -w0 | tr -d '=' | tr '[:upper:]' '[:lower:]')"
}

test_malformed_hashes() {
  local good_cid input cmd
  good_cid="$(cid_of "$H_SMALL" 55 1e)"
  # The CID construction itself is right: the same bytes with the raw codec work.
  bz get "$good_cid" | cmp -s - "$TMP/in/small" || fail "get by a correct CIDv1 ($good_cid) failed"
  assert_eq "$good_cid" "$(stat_field "$H_SMALL" cid)" "hand-built CID vs stat's cid"
  local -a inputs=(
    "abc"                                     # too short
    "${H_SMALL:0:63}"                         # one digit short
    "${H_SMALL}0"                             # 65 characters
    "${H_SMALL:0:60}xyz!"                     # 64 characters, not hex
    "g${H_SMALL:1}"                           # 64 characters, one non-hex
    ""                                        # empty
    "$(cid_of "$H_SMALL" 70 1e)"              # CIDv1 with the dag-pb codec
    "$(cid_of "$H_SMALL" 71 1e)"              # CIDv1 with the dag-cbor codec
    "$(cid_of "$H_SMALL" 55 12)"              # CIDv1 with a sha2-256 multihash
    "${good_cid:0:20}"                        # truncated CID
    "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"  # CIDv0 (sha2-256)
  )
  for input in "${inputs[@]}"; do
    for cmd in get stat "pin add" "pin rm"; do
      # shellcheck disable=SC2086 # $cmd is one or two words on purpose
      refused 2 "$cmd '$input'" bz $cmd "$input"
      assert_error_message "$cmd '$input'"
      assert_contains "$RUN_ERR" "\"$input\"" "$cmd '$input': the message quotes the bad input"
    done
  done
  refused 2 "get -o FILE of a malformed hash" bz get "abc" -o "$TMP/never"
  [[ ! -e "$TMP/never" ]] || fail "get -o of a malformed hash created the output file"
  run bz get "$(cid_of "$H_SMALL" 70 1e)"
  assert_imatch "$RUN_ERR" "codec|raw" "a CID with the wrong codec: the message says what is wrong"
  # One bad hash among good ones: nothing is pinned.
  refused 2 "pin add GOOD BAD" bz pin add "$H_SMALL" "nothex"
  assert_contains "$RUN_ERR" '"nothex"' "pin add GOOD BAD: the message quotes the bad hash"
  # --json errors are JSON on stdout as well.
  expect_rc 2 "--json get abc" bz --json get abc
  assert_eq "$(json_field error.code <<<"$RUN_OUT")" "invalid_argument" "--json get abc: error.code"
  assert_contains "$(json_field error.message <<<"$RUN_OUT")" '"abc"' "--json get abc: error.message"
}

test_unknown_blob() {
  refused 1 "get of an unknown blob" bz get "$UNKNOWN"
  assert_error_message "get of an unknown blob"
  assert_contains "$RUN_ERR" "not found" "get of an unknown blob"
  assert_contains "$RUN_ERR" "$UNKNOWN" "get of an unknown blob names the hash"
  refused 1 "stat of an unknown blob" bz stat "$UNKNOWN"
  assert_contains "$RUN_ERR" "not found" "stat of an unknown blob"
  assert_contains "$RUN_ERR" "$UNKNOWN" "stat of an unknown blob names the hash"
  refused 1 "get -o of an unknown blob" bz get "$UNKNOWN" -o "$TMP/never"
  assert_contains "$RUN_ERR" "not found" "get -o of an unknown blob"
  [[ ! -e "$TMP/never" ]] || fail "get -o of an unknown blob created the output file"
  [[ -z "$(find "$TMP" -maxdepth 1 -name 'never*')" ]] || fail "get -o of an unknown blob left a partial file"
  printf 'keep me\n' >"$TMP/existing"
  refused 1 "get -o EXISTING of an unknown blob" bz get "$UNKNOWN" -o "$TMP/existing"
  assert_eq "$(cat "$TMP/existing")" "keep me" "an existing -o target after a failed get"
  # By CID too.
  refused 1 "get of an unknown blob by CID" bz get "$(cid_of "$UNKNOWN" 55 1e)"
  assert_contains "$RUN_ERR" "not found" "get of an unknown blob by CID"
}

test_missing_files() {
  refused 1 "put of a missing file" bz put "$TMP/in/no such file"
  assert_error_message "put of a missing file"
  assert_contains "$RUN_ERR" "$TMP/in/no such file" "put of a missing file names the path"
  assert_imatch "$RUN_ERR" "no such file|not found|does not exist" "put of a missing file says why"
  refused 1 "put of a directory" bz put "$TMP/in"
  assert_contains "$RUN_ERR" "$TMP/in" "put of a directory names the path"
  refused 1 "hash of a missing file" "$BZZZ_BIN" hash "$TMP/in/absent"
  assert_contains "$RUN_ERR" "$TMP/in/absent" "hash of a missing file names the path"
  refused 1 "get -o into a missing directory" bz get "$H_SMALL" -o "$TMP/no/such/dir/out"
  assert_contains "$RUN_ERR" "$TMP/no/such/dir" "get -o into a missing directory names the path"
}

test_usage_errors() {
  local args
  while IFS= read -r args; do
    [[ -n "$args" ]] || continue
    # shellcheck disable=SC2086 # word splitting of the case line is the point
    expect_rc 2 "bzzz $args" bz $args
    [[ -n "$RUN_ERR" ]] || fail "bzzz $args: exit 2 but no message on stderr"
    unchanged "bzzz $args"
  done <<'EOF'
frob
ls extra-argument
--bogus-option ls
ls --bogus-option
get
stat
put
pin
pin add
pin rm
pin frob
index
index frob
hash
gc --grace
gc --grace banana
gc --grace -5m
gc --grace 5x
--compression lz4 ls
--compression lz4 put /dev/null
--compression ZSTD! ls
--min-savings 2 ls
--min-savings -0.5 ls
--threads many ls
EOF
  expect_rc 2 "bzzz (no subcommand)" bz
  refused 2 "gc --grace banana" bz gc --grace banana
  assert_error_message "gc --grace banana"
  assert_contains "$RUN_ERR" "banana" "gc --grace banana names the bad value"
  refused 2 "--compression lz4" bz --compression lz4 put "$TMP/in/small"
  assert_error_message "--compression lz4"
  assert_contains "$RUN_ERR" "lz4" "--compression lz4 names the bad codec"
  expect_rc 2 "get --json without -o" bz --json get "$H_SMALL"
  # The message is on stderr; stdout carries only the JSON error document, no blob bytes.
  assert_error_message "get --json without -o"
  assert_contains "$RUN_ERR" "-o" "get --json without -o: the message says -o is needed"
  assert_eq "$(json_field error.code <<<"$RUN_OUT")" "invalid_argument" "get --json without -o: error.code"
  unchanged "get --json without -o"
  expect_rc 2 "get --json -o -" bz --json get "$H_SMALL" -o -
  unchanged "get --json -o -"
  # With -o, --json works.
  run bz --json get "$H_SMALL" -o "$TMP/json-out"
  [[ "$RUN_RC" == 0 ]] || fail "get --json -o FILE: $(run_dump)"
  cmp -s "$TMP/json-out" "$TMP/in/small" || fail "get --json -o FILE wrote different bytes"
  assert_eq "$(json_field hash <<<"$RUN_OUT")" "$H_SMALL" "get --json -o FILE: .hash"
}

test_pins() {
  refused 1 "pin rm of an unpinned blob" bz pin rm "$H_SMALL"
  assert_error_message "pin rm of an unpinned blob"
  assert_contains "$RUN_ERR" "not pinned" "pin rm of an unpinned blob"
  assert_contains "$RUN_ERR" "$H_SMALL" "pin rm of an unpinned blob names the hash"
  refused 1 "pin add of an unknown blob" bz pin add "$UNKNOWN"
  assert_contains "$RUN_ERR" "$UNKNOWN" "pin add of an unknown blob names the hash"
  assert_contains "$RUN_ERR" "not found" "pin add of an unknown blob"
  refused 1 "pin rm of an unknown blob" bz pin rm "$UNKNOWN"
  assert_contains "$RUN_ERR" "$UNKNOWN" "pin rm of an unknown blob names the hash"
  # Pin counts: add twice, remove twice, then a third remove is refused.
  bz pin add "$H_SMALL" "$H_SMALL" >/dev/null || fail "pin add twice failed"
  assert_eq "$(bz pin ls | grep "^$H_SMALL")" "$H_SMALL  2" "pin count after two adds"
  bz pin rm "$H_SMALL" >/dev/null || fail "first pin rm failed"
  bz pin rm "$H_SMALL" >/dev/null || fail "second pin rm failed"
  refused 1 "third pin rm" bz pin rm "$H_SMALL"
  assert_contains "$RUN_ERR" "not pinned" "third pin rm"
}

test_bad_data_dirs() {
  local base="$TMP/dirs"
  mkdir -p "$base"
  echo "I am a file" >"$base/file"
  expect_rc 1 "data dir that is a regular file" "$BZZZ_BIN" --data "$base/file" ls
  assert_error_message "data dir that is a regular file"
  assert_contains "$RUN_ERR" "$base/file" "data dir that is a regular file: the message names it"
  expect_rc 1 "data dir below a regular file" "$BZZZ_BIN" --data "$base/file/sub" put "$TMP/in/small"
  assert_contains "$RUN_ERR" "$base/file" "data dir below a regular file: the message names it"
  assert_eq "$(cat "$base/file")" "I am a file" "a regular file given as the data dir is untouched"
  # BZZZ_DATA is honoured the same way.
  run env BZZZ_DATA="$base/file" "$BZZZ_BIN" ls
  [[ "$RUN_RC" == 1 ]] || fail "BZZZ_DATA=<regular file> ls: $(run_dump)"
  assert_contains "$RUN_ERR" "$base/file" "BZZZ_DATA=<regular file>: the message names it"

  if [[ "$(id -u)" != 0 ]]; then
    mkdir -p "$base/locked"
    chmod 000 "$base/locked"
    expect_rc 1 "data dir inside an unreadable dir" "$BZZZ_BIN" --data "$base/locked/data" ls
    assert_contains "$RUN_ERR" "$base/locked" "unreadable data dir: the message names it"
    mkdir -p "$base/store"
    "$BZZZ_BIN" --data "$base/store" put "$TMP/in/small" >/dev/null || fail "put into a fresh store failed"
    chmod 000 "$base/store"
    expect_rc 1 "chmod 000 data dir" "$BZZZ_BIN" --data "$base/store" ls
    assert_contains "$RUN_ERR" "$base/store" "chmod 000 data dir: the message names it"
    chmod 755 "$base/store"
    return 0
  fi

  # Root ignores permission bits; drop to nobody for them when we can.
  if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    chmod 755 "$TMP" "$base"
    mkdir -p "$base/locked" "$base/store"
    chmod 000 "$base/locked"
    run setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$BZZZ_BIN" --data "$base/locked/data" ls
    [[ "$RUN_RC" == 1 ]] || fail "as nobody, data dir inside a chmod 000 dir: $(run_dump)"
    assert_contains "$RUN_ERR" "$base/locked" "as nobody, unreadable data dir: the message names it"
    "$BZZZ_BIN" --data "$base/store" put "$TMP/in/small" >/dev/null || fail "put into a fresh store failed"
    chmod 000 "$base/store"
    run setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$BZZZ_BIN" --data "$base/store" ls
    [[ "$RUN_RC" == 1 ]] || fail "as nobody, chmod 000 data dir: $(run_dump)"
    assert_contains "$RUN_ERR" "$base/store" "as nobody, chmod 000 data dir: the message names it"
    chmod 755 "$base/store"
    chmod 700 "$TMP"
  else
    log "  (no setpriv/nobody: skipping the permission checks as another user)"
  fi

  # A data dir on a read-only mount.
  mkdir -p "$base/ro"
  if mount -t tmpfs -o size=1m,mode=755 tmpfs "$base/ro" 2>/dev/null; then
    on_exit "umount '$base/ro'"
    mount -o remount,ro "$base/ro" || fail "could not remount the test tmpfs read-only"
    expect_rc 1 "data dir on a read-only tmpfs" "$BZZZ_BIN" --data "$base/ro/data" ls
    assert_error_message "data dir on a read-only tmpfs"
    assert_contains "$RUN_ERR" "$base/ro/data" "data dir on a read-only tmpfs: the message names it"
    assert_imatch "$RUN_ERR" "read-only" "data dir on a read-only tmpfs: the message says why"
    umount "$base/ro"
    # An existing store bind-mounted read-only: refused with its path, not crashed.
    mkdir -p "$base/rostore"
    "$BZZZ_BIN" --data "$base/rostore" put "$TMP/in/small" >/dev/null || fail "put into a fresh store failed"
    if mount --bind "$base/rostore" "$base/rostore" 2>/dev/null; then
      on_exit "umount '$base/rostore'"
      mount -o remount,bind,ro "$base/rostore" || fail "could not remount the bind mount read-only"
      expect_rc 1 "put into a store on a read-only bind mount" "$BZZZ_BIN" --data "$base/rostore" put "$TMP/in/large"
      assert_contains "$RUN_ERR" "$base/rostore" "read-only store: the message names it"
      assert_imatch "$RUN_ERR" "read-only" "read-only store: the message says why"
      umount "$base/rostore"
    fi
    "$BZZZ_BIN" --data "$base/rostore" verify >/dev/null || fail "the store that was mounted read-only is not clean"
  else
    log "  (cannot mount tmpfs here: skipping the read-only mount checks)"
  fi
  unchanged "after the data dir checks"
}

# Usage errors from the argument parser follow the same rules as the rest: a
# "bzzz: " line naming the bad word.
test_usage_messages() {
  local args word
  for args in "frob:frob" "ls extra-argument:extra-argument" "--bogus-option ls:--bogus-option" "pin frob:frob"; do
    word="${args#*:}"
    # shellcheck disable=SC2086
    expect_rc 2 "bzzz ${args%%:*}" bz ${args%%:*}
    assert_contains "$RUN_ERR" "$word" "bzzz ${args%%:*}: the message names '$word'"
    assert_error_message "bzzz ${args%%:*}"
  done
}

# An out-of-range --small-threshold is refused as a usage error, or else honoured: a
# put must never store something other than the file it was given.
test_small_threshold_range() {
  local v want
  # shellcheck disable=SC2034 # bz reads DATA
  local DATA="$TMP/threshold"  # its own store: the main one must stay as it was
  make_random "$TMP/in/3MiB" $((3 * MiB))
  want="$(b3 "$TMP/in/3MiB")"
  for v in -1 18446744073709551615 18446744073709551614; do
    run bz --small-threshold "$v" put "$TMP/in/3MiB"
    if [[ "$RUN_RC" == 0 ]]; then
      assert_eq "$RUN_OUT" "$want" "--small-threshold $v put of a 3 MiB file: printed hash (b3sum's is $want)"
      bz get "$want" | cmp -s - "$TMP/in/3MiB" || fail "--small-threshold $v: get returned different bytes"
    else
      assert_eq "$RUN_RC" 2 "--small-threshold $v: exit code of a refused value ($(run_dump))"
    fi
  done
}

# An out-of-range --level is a usage error like --min-savings 2 or --compression lz4.
test_level_range() {
  local v
  for v in 100 0 -200000; do
    refused 2 "--level $v (zstd)" bz --level "$v" put "$TMP/in/small"
    assert_contains "$RUN_ERR" "$v" "--level $v names the bad level"
  done
  refused 2 "--level 10 with gzip" bz --compression gzip --level 10 put "$TMP/in/small"
}

section "malformed hashes are usage errors quoting the input" test_malformed_hashes
section "unknown blobs are not found" test_unknown_blob
section "missing files are named" test_missing_files
section "usage errors exit 2" test_usage_errors
section "pin errors" test_pins
section "unusable data dirs are named" test_bad_data_dirs
section "parser usage errors name the bad word in a bzzz: message" test_usage_messages
section "an out-of-range --small-threshold never stores the wrong bytes" test_small_threshold_range
section "an out-of-range --level is a usage error" test_level_range
unchanged "at the end"
finish_tests bad_input
