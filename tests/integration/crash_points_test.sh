#!/usr/bin/env bash
# Crash safety at chosen points: a deterministic companion to crash_test.sh.
#
# For each command that changes a store (small, large and stdin puts, pin add, gc,
# optimize, index rebuild), run it once under strace to count the syscalls that mark its
# steps (write, pwrite64, ftruncate, fsync, fdatasync, rename, unlink), then, on a fresh
# copy of the same store each time, run it again with strace killing it (SIGKILL, on
# entry, so the call never happens) at the 1st, 2nd, ... call of each. After every kill:
#   - verify exits 0 and reports a clean store (every indexed blob hashes to its name,
#     nothing missing or orphaned, counters right); blobs/temp is emptied on open;
#   - every blob the store held before is still listed (gc: unpinned ones may be gone),
#     and nothing appears that nobody put; pins are the old ones or the new ones;
#   - what the killed command was writing is either wholly there or not at all;
# and running the same command again to completion gives its normal result.
# Needs strace with syscall fault injection (strace >= 4.16) and ptrace permission.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd b3sum cmp strace

MiB=1048576
# Kill points per command: the first N calls of each syscall. The sync, rename, unlink and
# truncate calls are the steps that matter; writes in between are sampled.
# BZZZ_CRASH_POINT_CAP=N raises (or lowers) every limit to N.
declare -A CAP=([write]=2 [pwrite64]=2 [ftruncate]=2 [fsync]=5 [fdatasync]=5 [rename]=3 [unlink]=3)
if [[ -n "${BZZZ_CRASH_POINT_CAP:-}" ]]; then
  for sys in "${!CAP[@]}"; do CAP[$sys]=$BZZZ_CRASH_POINT_CAP; done
fi
SYSCALLS=(write pwrite64 ftruncate fsync fdatasync rename unlink)

# Can we trace, and inject? (ptrace may be forbidden; inject needs strace >= 4.16)
rc=0
(strace -f -o /dev/null -e trace=write -e inject=write:signal=KILL:when=1 /bin/echo probe >/dev/null || exit $?) 2>/dev/null || rc=$?
[[ "$rc" == 137 ]] || skip "strace cannot kill a process at a syscall here (probe exited $rc; ptrace not permitted, or strace older than 4.16)"
# (Not --seccomp-bpf: with it, strace 6.1 silently stops injecting.)
STRACE=(strace -f)

IN="$TMP/in"
mkdir -p "$IN"

# ---------------------------------------------------------------------------------------
log "building the template store"
TEMPLATE="$TMP/template"
DATA="$TEMPLATE"
make_random "$IN/A" 3000                   # small raw, pinned twice
make_text "$IN/B" 12000 bbb                # small zstd, unpinned
make_random "$IN/C" $((200 * 1024))        # large raw, pinned
make_text "$IN/D" $((600 * 1024)) ddd      # large zstd, unpinned
make_text "$IN/E" $((300 * 1024)) eee      # large gzip, unpinned
declare -A BASE=()   # hash -> source
for n in A B C D; do BASE["$(put_ok "$IN/$n")"]="$IN/$n"; done
BASE["$(put_ok "$IN/E" --compression gzip)"]="$IN/E"
HA="$(b3 "$IN/A")"; HB="$(b3 "$IN/B")"; HC="$(b3 "$IN/C")"; HD="$(b3 "$IN/D")"; HE="$(b3 "$IN/E")"
bz pin add "$HA" "$HA" "$HC" >/dev/null || fail "pin add in the template failed"
check_clean "template"
BASE_LS="$(bz ls)"
BASE_PINS="$(bz pin ls)"

# New content for the puts.
make_random "$IN/new-small" 5000
make_text "$IN/new-large-text" $((2 * MiB + 3)) nlt
make_random "$IN/new-stdin" $((1 * MiB + 77))

# ---------------------------------------------------------------------------------------
# Scenarios: NAME|ARGS (global options and subcommand)|STDIN file or -|NEW source or -
SCENARIOS=(
  "put-small|put $IN/new-small|-|$IN/new-small"
  "put-large-zstd|put $IN/new-large-text|-|$IN/new-large-text"
  "put-stdin-raw|put -|$IN/new-stdin|$IN/new-stdin"
  "pin-add|pin add $HB|-|-"
  "gc|gc --grace 0|-|-"
  "optimize|--compression none optimize|-|-"
  "index-rebuild|index rebuild|-|-"
)

# run_cmd DIR ARGS STDIN [SYSCALL N]: runs bzzz on DIR; with SYSCALL and N, under
# strace, killed on entry to the N-th call of SYSCALL. Sets CMD_RC.
run_cmd() {
  local dir="$1" args="$2" stdin="$3" sys="${4:-}" n="${5:-}" wrap=()
  [[ "$stdin" == "-" ]] && stdin=/dev/null
  [[ -z "$sys" ]] || wrap=("${STRACE[@]}" -o /dev/null -e "trace=$sys" -e "inject=$sys:signal=KILL:when=$n")
  # In a subshell with stderr dropped: bash reports killed jobs on stderr.
  # shellcheck disable=SC2086 # ARGS is a word list on purpose
  (
    rc=0
    "${wrap[@]}" "$BZZZ_BIN" --data "$dir" $args <"$stdin" >"$TMP/cmd.out" 2>"$TMP/cmd.err" || rc=$?
    echo "$rc" >"$TMP/cmd.rc"
  ) 2>/dev/null
  CMD_RC="$(cat "$TMP/cmd.rc")"
}

# count_calls DIR ARGS STDIN: runs the command once uninterrupted, tracing SYSCALLS, and
# prints "syscall count" for each.
count_calls() {
  local dir="$1" args="$2" stdin="$3" sys list
  [[ "$stdin" == "-" ]] && stdin=/dev/null
  list="$(IFS=,; echo "${SYSCALLS[*]}")"
  # shellcheck disable=SC2086
  "${STRACE[@]}" -o "$TMP/count.trace" -e "trace=$list" "$BZZZ_BIN" --data "$dir" $args <"$stdin" \
    >/dev/null 2>"$TMP/count.err" || fail "the uninterrupted run of '$args' failed: $(cat "$TMP/count.err")"
  for sys in "${SYSCALLS[@]}"; do
    echo "$sys $(grep -c -E "^[0-9]+ +$sys\\(" "$TMP/count.trace" || true)"
  done
}

# check_after NAME NEW DESC PHASE: the invariants; PHASE is "crash" (right after a kill)
# or "done" (after the command ran again to completion).
check_after() {
  local name="$1" new="$2" desc="$3" phase="$4" h listed hashes want_new="" left pins
  check_clean "$desc"
  left="$(find "$DATA/blobs/temp" -mindepth 1 | head -3)"
  [[ -z "$left" ]] || fail "$desc: blobs/temp not emptied by the last open: $left"
  listed="$(bz ls)" || fail "$desc: ls failed"
  hashes="$(awk '{print $1}' <<<"$listed")"
  [[ "$new" == "-" ]] || want_new="$(b3 "$new")"
  # Nothing was lost: every blob of the template is still there (gc may drop unpinned ones).
  for h in "${!BASE[@]}"; do
    grep -qx "$h" <<<"$hashes" && continue
    [[ "$name" == gc && "$h" != "$HA" && "$h" != "$HC" ]] && continue
    fail "$desc: blob $h ($(basename "${BASE[$h]}")) that the store held before is gone; ls: $listed"
  done
  # Nothing appeared that nobody put.
  while read -r h; do
    [[ -z "$h" || -n "${BASE[$h]:-}" || "$h" == "$want_new" ]] ||
      fail "$desc: ls lists $h, which was never put"
  done <<<"$hashes"
  case "$name" in
    put-*)
      if [[ "$phase" == "done" ]]; then
        grep -qx "$want_new" <<<"$hashes" || fail "$desc: after the put completed, its blob is not listed"
        bz get "$want_new" | cmp -s - "$new" || fail "$desc: after the put completed, its blob reads back wrong"
      else
        assert_eq "$(bz pin ls)" "$BASE_PINS" "$desc: pins"
      fi
      ;;
    pin-add)
      pins="$(bz pin ls | awk -v h="$HB" '$1 == h {print $2}')"
      if [[ "$phase" == crash ]]; then
        [[ "${pins:-0}" == 0 || "$pins" == 1 ]] || fail "$desc: B has ${pins:-0} pins, expected 0 or 1"
      else
        [[ "$pins" == 1 || "$pins" == 2 ]] || fail "$desc: B has ${pins:-0} pins after pin add completed, expected 1 (or 2)"
      fi
      ;;
    gc)
      assert_eq "$(bz pin ls)" "$BASE_PINS" "$desc: pins"
      if [[ "$phase" == "done" ]]; then
        assert_eq "$(sort <<<"$hashes")" "$(printf '%s\n' "$HA" "$HC" | sort)" "$desc: blobs left after gc completed"
      fi
      ;;
    optimize)
      if [[ "$phase" == "done" ]]; then
        for h in "$HB" "$HD" "$HE"; do
          assert_eq "$(awk -v h="$h" '$1 == h {print $3}' <<<"$listed")" raw \
            "$desc: codec of $(basename "${BASE[$h]}") after optimize completed"
        done
      fi
      ;;
    index-rebuild)
      assert_eq "$listed" "$BASE_LS" "$desc: ls"
      assert_eq "$(bz pin ls)" "$BASE_PINS" "$desc: pins"
      ;;
  esac
}

# crash_scenario LINE: every kill point of one scenario.
crash_scenario() {
  local name args stdin new sys n i points=0 counts
  IFS='|' read -r name args stdin new <<<"$1"
  local work="$TMP/work-$name"
  rm -rf "$work"
  cp -a "$TEMPLATE" "$work"
  counts="$(count_calls "$work" "$args" "$stdin")"
  while read -r sys n; do
    ((n > CAP[$sys])) && n=${CAP[$sys]}
    for ((i = 1; i <= n; i++)); do
      rm -rf "$work"
      cp -a "$TEMPLATE" "$work"
      run_cmd "$work" "$args" "$stdin" "$sys" "$i"
      [[ "$CMD_RC" == 137 ]] ||
        fail "$name with a kill at $sys #$i: exited $CMD_RC instead of being killed: $(cat "$TMP/cmd.err")"
      DATA="$work"
      check_after "$name" "$new" "$name killed at $sys #$i" crash
      # Recovery: the same command, uninterrupted, now gives its normal result.
      run_cmd "$work" "$args" "$stdin"
      [[ "$CMD_RC" == 0 ]] ||
        fail "$name after a kill at $sys #$i: running it again failed (exit $CMD_RC): $(cat "$TMP/cmd.err")"
      check_after "$name" "$new" "$name after a kill at $sys #$i, run again" "done"
      points=$((points + 1))
    done
  done <<<"$counts"
  log "  $name: $points kill points checked ($(tr '\n' ' ' <<<"$counts"))"
}

for line in "${SCENARIOS[@]}"; do
  section "crash points: ${line%%|*}" crash_scenario "$line"
done
finish_tests crash_points
