# Shared helpers for the bzzz script tests (tests/cli, tests/integration).
#
# Source it from a test script:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"            (tests/cli)
#   source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"     (tests/integration)
#
# Environment: BZZZ_BIN (the binary under test), BZZZ_SOURCE_DIR (repo root).
# After sourcing: $TMP is a fresh temp dir removed on exit, $DATA is a data dir path
# inside it (not created), and `bz ARGS...` runs "$BZZZ_BIN" --data "$DATA" ARGS...
# Exit codes follow CTest's convention: 0 pass, 77 skipped (reason printed), else fail.

set -euo pipefail

# The caller's data dir must never leak into a test.
unset BZZZ_DATA
# Nodes the tests start listen for libp2p on a free loopback port, not on the default
# 0.0.0.0:9000 (tests run in parallel). A test that needs a known port sets its own.
export BZZZ_P2P_LISTEN=/ip4/127.0.0.1/tcp/0
# Nor do they find each other (or anything else on the LAN) by mDNS: tests that want it
# turn it on in a network namespace of their own.
export BZZZ_MDNS_ENABLED=false

log() { printf '== %s\n' "$*"; }

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

skip() {
  printf 'SKIP: %s\n' "$*"
  exit 77
}

# --- the binary ------------------------------------------------------------------------

if [[ -z "${BZZZ_BIN:-}" ]]; then
  if [[ -n "${BZZZ_SOURCE_DIR:-}" && -x "$BZZZ_SOURCE_DIR/build/bzzz" ]]; then
    BZZZ_BIN="$BZZZ_SOURCE_DIR/build/bzzz"
  else
    fail "BZZZ_BIN is not set (point it at the bzzz binary under test)"
  fi
fi
[[ -x "$BZZZ_BIN" ]] || fail "BZZZ_BIN=$BZZZ_BIN is not an executable file"
BZZZ_BIN="$(cd "$(dirname "$BZZZ_BIN")" && pwd)/$(basename "$BZZZ_BIN")"
export BZZZ_BIN

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || skip "this test needs '$c', which is not installed"
  done
}

# --- temp dir and cleanup ----------------------------------------------------------------

TMP="$(mktemp -d "${TMPDIR:-/tmp}/bzzz-test.XXXXXX")"
DATA="$TMP/data"
_CLEANUP_HOOKS=()

# Registers a shell command to run on exit (hooks run last-registered first, before the
# temp dir is removed). Hooks must not fail the cleanup; their errors are ignored.
on_exit() { _CLEANUP_HOOKS+=("$1"); }

_cleanup() {
  local rc=$? i
  set +e
  for ((i = ${#_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
    eval "${_CLEANUP_HOOKS[$i]}" >/dev/null 2>&1
  done
  if [[ -n "${TMP:-}" && -d "$TMP" ]]; then
    chmod -R u+rwx "$TMP" 2>/dev/null
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- running bzzz ------------------------------------------------------------------------

bz() { "$BZZZ_BIN" --data "$DATA" "$@"; }

# run CMD...: runs a command without tripping `set -e`; leaves its exit code in RUN_RC,
# its stdout in RUN_OUT and its stderr in RUN_ERR (text; use files for binary output).
RUN_RC=0
RUN_OUT=""
RUN_ERR=""
run() {
  local out="$TMP/.run.out" err="$TMP/.run.err"
  if "$@" >"$out" 2>"$err"; then RUN_RC=0; else RUN_RC=$?; fi
  RUN_OUT="$(cat "$out")"
  RUN_ERR="$(cat "$err")"
}

# Prints the last run's output for a failure message.
run_dump() {
  printf 'exit %s; stdout: %s; stderr: %s' "$RUN_RC" "${RUN_OUT:0:2000}" "${RUN_ERR:0:2000}"
}

# expect_rc WANT DESC CMD...: runs CMD (via run) and fails unless it exits WANT.
expect_rc() {
  local want="$1" desc="$2"
  shift 2
  run "$@"
  [[ "$RUN_RC" == "$want" ]] || fail "$desc: expected exit $want, got $(run_dump)"
}

# assert_eq GOT WANT DESC
assert_eq() {
  [[ "$1" == "$2" ]] || fail "$3: got '$1', expected '$2'"
}

# assert_contains TEXT NEEDLE DESC (literal, case-sensitive)
assert_contains() {
  [[ "$1" == *"$2"* ]] || fail "$3: expected to find '$2' in: ${1:0:2000}"
}

assert_not_contains() {
  [[ "$1" != *"$2"* ]] || fail "$3: did not expect '$2' in: ${1:0:2000}"
}

# assert_imatch TEXT ERE DESC (extended regex, case-insensitive)
assert_imatch() {
  grep -Eqi -- "$2" <<<"$1" || fail "$3: expected to match /$2/ in: ${1:0:2000}"
}

# An error from bzzz: one "bzzz: " line on stderr (checked by callers) and nothing
# pretending to be a result on stdout.
assert_error_message() {
  local desc="$1"
  [[ "$RUN_ERR" == "bzzz: "* ]] || fail "$desc: stderr should start with 'bzzz: ', got: ${RUN_ERR:0:2000}"
}

# check_clean DESC: `verify` exits 0 and says the store is clean with no problem lines.
check_clean() {
  local desc="$1"
  run bz verify
  [[ "$RUN_RC" == 0 ]] || fail "$desc: verify should exit 0 on a clean store, got $(run_dump)"
  assert_contains "$RUN_OUT" "0 bad, 0 missing, 0 orphaned" "$desc: verify summary"
  assert_contains "$RUN_OUT" "store is clean" "$desc: verify summary"
  if grep -Eq '^(bad|missing|orphaned) ' <<<"$RUN_OUT"; then
    fail "$desc: verify listed problems on a store it called clean: $RUN_OUT"
  fi
}

# --- data helpers ------------------------------------------------------------------------

file_size() { stat -c %s "$1"; }

b3() { b3sum --no-names -- "$1"; }

is_hash() { [[ "$1" =~ ^[0-9a-f]{64}$ ]]; }

# make_random FILE BYTES: incompressible content.
make_random() { head -c "$2" /dev/urandom >"$1"; }

# make_text FILE BYTES [TAG]: compressible, log-like text (numbered, not one repeated
# line), so a real codec has work to do. TAG makes the content differ between files.
make_text() {
  local file="$1" bytes="$2" tag="${3:-x}"
  local lines=$((bytes / 40 + 2))
  tag="${tag//%/%%}"
  { seq -f "%09.0f INFO $tag GET /api/v1/items status=200 took_us=117 user=alice" 1 "$lines" || true; } |
    head -c "$bytes" >"$file"
  [[ "$(file_size "$file")" == "$bytes" ]] || fail "make_text produced $(file_size "$file") bytes, wanted $bytes"
}

# blob_file HASH: where a large blob lives under $DATA.
blob_file() { printf '%s/blobs/data/%s/%s/%s' "$DATA" "${1:0:2}" "${1:2:2}" "$1"; }

# json_field PATH: reads a JSON document on stdin and prints .PATH (jq syntax subset:
# keys joined by dots, [N] for array elements), e.g. codecs.zstd or [0].hash.
json_field() {
  if command -v jq >/dev/null 2>&1; then
    jq -r ".$1"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c '
import json, re, sys
v = json.load(sys.stdin)
for index, key in re.findall(r"\[(\d+)\]|([^.\[\]]+)", sys.argv[1]):
    v = v[int(index)] if index else v[key]
print(json.dumps(v) if isinstance(v, (bool, dict, list)) or v is None else v)' "$1"
  else
    skip "this test needs jq or python3 to read JSON"
  fi
}

# stat_field HASH KEY: a field of `bzzz --json stat HASH`.
stat_field() {
  local doc
  doc="$(bz --json stat "$1")" || fail "stat $1 failed: $doc"
  json_field "$2" <<<"$doc"
}

# flip_byte FILE OFFSET: inverts every bit of one byte in place.
flip_byte() {
  local file="$1" offset="$2" old new
  old="$(od -An -tu1 -j "$offset" -N1 "$file" | tr -d ' \n')"
  [[ -n "$old" ]] || fail "flip_byte: $file has no byte at offset $offset"
  new=$((old ^ 0xff))
  # shellcheck disable=SC2059 # the format is the octal escape of the new byte
  printf "\\$(printf '%03o' "$new")" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
  [[ "$(od -An -tu1 -j "$offset" -N1 "$file" | tr -d ' \n')" == "$new" ]] ||
    fail "flip_byte: could not change byte $offset of $file"
}

# get_matches HASH SRC DESC: `get` to stdout and `get -o` both return exactly SRC.
get_matches() {
  local hash="$1" src="$2" desc="$3" out="$TMP/.get.out"
  rm -f "$out"
  if ! bz get "$hash" >"$out" 2>"$TMP/.get.err"; then
    fail "$desc: get $hash to stdout failed: $(cat "$TMP/.get.err")"
  fi
  cmp -s "$out" "$src" || fail "$desc: get $hash to stdout returned bytes that differ from $src ($(file_size "$out") vs $(file_size "$src") bytes)"
  rm -f "$out"
  if ! bz get "$hash" -o "$out" >/dev/null 2>"$TMP/.get.err"; then
    fail "$desc: get $hash -o FILE failed: $(cat "$TMP/.get.err")"
  fi
  cmp -s "$out" "$src" || fail "$desc: get $hash -o FILE wrote bytes that differ from $src"
  rm -f "$out"
}

# put_ok FILE|- [GLOBAL OPTIONS...]: puts and prints the hash it printed, failing on
# anything but exit 0 with one hash line. With -, stdin is the content.
put_ok() {
  local src="$1" out
  shift
  if ! out="$(bz "$@" put "$src" 2>"$TMP/.put.err")"; then
    fail "put $src failed: $(cat "$TMP/.put.err")"
  fi
  is_hash "$out" || fail "put $src printed '$out', not one 64-hex hash"
  printf '%s\n' "$out"
}

# --- independent sections ----------------------------------------------------------------
#
# section NAME FUNC [ARGS...]: runs FUNC in a subshell with errexit on. If it fails, the
# failure is recorded and the script goes on with the next section, so one broken
# behaviour does not hide the others; finish_tests then exits 1 naming every failed
# section. Sections share nothing but files: set variables inside the function.
_FAILED_SECTIONS=()
section() {
  local name="$1" rc
  shift
  log "$name"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  if [[ "$rc" != 0 ]]; then
    _FAILED_SECTIONS+=("$name")
    printf 'FAIL: section "%s" failed (exit %s)\n' "$name" "$rc" >&2
  fi
}

# finish_tests NAME: exit 1 if any section failed, else print PASS.
finish_tests() {
  if ((${#_FAILED_SECTIONS[@]} > 0)); then
    printf 'FAIL: %s: %d section(s) failed:\n' "$1" "${#_FAILED_SECTIONS[@]}" >&2
    printf '  - %s\n' "${_FAILED_SECTIONS[@]}" >&2
    exit 1
  fi
  echo "PASS: $1"
}

# rand_below N: a random integer in [0, N).
rand_below() { echo $((RANDOM % $1)); }

# --- for tests that run a node ---------------------------------------------------------

# The Python interpreter itself, found once: a version manager's shim can take a second
# per start.
PY="$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)"

# free_port: a TCP port on loopback nothing listens on now.
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# alive PID: the process exists and is not a zombie (kill -0 succeeds on a zombie).
# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds, or fails
# the test naming DESCRIPTION.
wait_until() {
  local limit="$1" what="$2" start=$SECONDS
  shift 2
  until "$@"; do
    ((SECONDS - start < limit)) || fail "$what: not within ${limit} s"
    sleep 0.2
  done
}

alive() {
  local st
  st="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  st="${st##*) }"
  [[ "${st:0:1}" != Z ]]
}

# stop_node PID [SECONDS]: SIGTERM, then SIGKILL if it is still running after SECONDS.
stop_node() {
  local pid="$1" secs="${2:-30}" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
