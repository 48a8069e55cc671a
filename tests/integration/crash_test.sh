#!/usr/bin/env bash
# Crash safety: kill -9 at random moments loses nothing acknowledged and leaves a store
# that verifies clean.
#
# Rounds (at most 40, and none started after 60 s): a few concurrent `bzzz put`s of
# files of random sizes (packed and large, random and compressible, some through
# stdin), now and then a `pin add` or a `get -o`, then kill -9 of most of them after a
# random few milliseconds. A put is acknowledged when its stdout holds the full hash
# line (it must be b3sum's); a pin when its "hash  count" line is printed. Afterwards:
#   - verify exits 0 and says the store is clean; blobs/temp is empty;
#   - every acknowledged hash reads back byte-identical; ls lists nothing unknown;
#   - stats' blob count equals ls's line count; pin counts lie between the acknowledged
#     and the attempted pin adds; a killed get -o never leaves a partial target file.
# Then kill -9 during gc (at adaptive random moments, and, when strace can deliver the
# signal at a chosen syscall, in the middle of its file removals), during optimize and
# during index rebuild (each on a store of its own), checking the same invariants.
# tests/integration/crash_points_test.sh kills every command at every step instead.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd b3sum cmp

MiB=1048576
MAX_ROUNDS="${BZZZ_CRASH_ROUNDS:-40}"        # override to run longer or shorter
ROUND_BUDGET_S="${BZZZ_CRASH_SECONDS:-60}"
POOL=28
mkdir -p "$TMP/in" "$TMP/runs"

# ---------------------------------------------------------------------------------------
log "making $POOL source files"
declare -a SRC=() SRC_HASH=()
declare -A SRC_OF=()
for ((i = 0; i < POOL; i++)); do
  if ((i % 5 < 2)); then
    size=$(((RANDOM * 32768 + RANDOM) % 16385))            # 0 .. 16 KiB: packed
  else
    size=$((16385 + (RANDOM * 32768 + RANDOM) % (4 * MiB)))  # 16 KiB + 1 .. ~4 MiB
  fi
  f="$TMP/in/src-$i"
  if ((i % 2 == 0)); then make_random "$f" "$size"; else make_text "$f" "$size" "src$i"; fi
  SRC+=("$f")
  h="$(b3 "$f")"
  SRC_HASH+=("$h")
  SRC_OF["$h"]="$f"
done

# Acknowledged results, kept in files so sections (subshells) can read them.
ACKED="$TMP/acked"       # "hash" per line, may repeat
PIN_ACKED="$TMP/pin-acked"
PIN_TRIED="$TMP/pin-tried"
: >"$ACKED"
: >"$PIN_ACKED"
: >"$PIN_TRIED"

# random_ms MAX: sleeps a random 0..MAX-1 milliseconds.
random_ms() { sleep "$(printf '0.%03d' $((RANDOM % $1)))"; }

# acked_hashes: the distinct acknowledged hashes.
acked_hashes() { sort -u "$ACKED"; }

# check_store DESC: the invariants that must hold after any crash.
check_store() {
  local desc="$1" h n=0 listed count
  check_clean "$desc"
  [[ -z "$(find "$DATA/blobs/temp" -mindepth 1 | head -1)" ]] ||
    fail "$desc: blobs/temp not emptied by the last open: $(find "$DATA/blobs/temp" -mindepth 1 | head -5)"
  while read -r h; do
    [[ -n "$h" ]] || continue
    bz get "$h" >"$TMP/check.out" 2>"$TMP/check.err" ||
      fail "$desc: acknowledged blob $h (from ${SRC_OF[$h]}) does not read back: $(cat "$TMP/check.err")"
    cmp -s "$TMP/check.out" "${SRC_OF[$h]}" || fail "$desc: acknowledged blob $h reads back different bytes"
    n=$((n + 1))
  done < <(acked_hashes)
  rm -f "$TMP/check.out"
  listed="$(bz ls)" || fail "$desc: ls failed"
  count="$(grep -c . <<<"$listed" || true)"
  assert_eq "$(bz --json stats | json_field blobs)" "$count" "$desc: stats blob count vs ls line count"
  assert_eq "$(awk '{print $1}' <<<"$listed" | sort | uniq -d)" "" "$desc: hashes listed twice by ls"
  while read -r h _; do
    [[ -z "$h" || -n "${SRC_OF[$h]:-}" ]] || fail "$desc: ls lists $h, which no test put wrote"
  done <<<"$listed"
  log "  $desc: clean; $n acknowledged blobs read back; $count blobs stored"
}

# check_pins DESC: each hash's pin count lies between acknowledged and attempted adds.
check_pins() {
  local desc="$1" h acked tried have
  while read -r h; do
    [[ -n "$h" ]] || continue
    acked="$(grep -c "^$h\$" "$PIN_ACKED" || true)"
    tried="$(grep -c "^$h\$" "$PIN_TRIED" || true)"
    have="$(bz pin ls | awk -v h="$h" '$1 == h {print $2}')"
    have="${have:-0}"
    ((have >= acked && have <= tried)) ||
      fail "$desc: $h has $have pins; $acked pin adds were acknowledged and $tried attempted"
  done < <(sort -u "$PIN_TRIED")
}

# ---------------------------------------------------------------------------------------
# start_round ROUND: starts 1-4 bzzz processes, kills most of them with -9 after a random
# few ms, waits for all. Writes "j kind arg rc" per process to $TMP/runs/rROUND.jobs; each
# process's stdout/stderr go to $TMP/runs/rROUND-j.{out,err}. Run it in a subshell with
# stderr discarded: bash reports every killed job there.
start_round() {
  local round="$1" j out pick nacked h k rc
  local -a pids=() kinds=() args=()
  local jobs_n=$((1 + RANDOM % 4))
  for ((j = 0; j < jobs_n; j++)); do
    out="$TMP/runs/r$round-$j"
    pick=$((RANDOM % 10))
    nacked="$(acked_hashes | wc -l)"
    if ((pick == 0 && nacked > 0)); then
      h="$(acked_hashes | sed -n "$((1 + RANDOM % nacked))p")"
      echo "$h" >>"$PIN_TRIED"
      "$BZZZ_BIN" --data "$DATA" pin add "$h" >"$out.out" 2>"$out.err" &
      kinds+=(pin)
      args+=("$h")
    elif ((pick == 1 && nacked > 0)); then
      h="$(acked_hashes | sed -n "$((1 + RANDOM % nacked))p")"
      "$BZZZ_BIN" --data "$DATA" get "$h" -o "$out.get" >"$out.out" 2>"$out.err" &
      kinds+=(get)
      args+=("$h")
    else
      k=$((RANDOM % POOL))
      if ((RANDOM % 4 == 0)); then
        "$BZZZ_BIN" --data "$DATA" put - <"${SRC[$k]}" >"$out.out" 2>"$out.err" &
      else
        "$BZZZ_BIN" --data "$DATA" put "${SRC[$k]}" >"$out.out" 2>"$out.err" &
      fi
      kinds+=(put)
      args+=("$k")
    fi
    pids+=($!)
  done
  random_ms 80
  for ((j = 0; j < jobs_n; j++)); do
    if ((RANDOM % 4 != 0)); then kill -9 "${pids[$j]}" 2>/dev/null || true; fi
  done
  for ((j = 0; j < jobs_n; j++)); do
    rc=0
    wait "${pids[$j]}" || rc=$?
    echo "$j ${kinds[$j]} ${args[$j]} $rc" >>"$TMP/runs/r$round.jobs"
  done
}

log "kill -9 rounds (at most $MAX_ROUNDS rounds, none started after ${ROUND_BUDGET_S}s)"
start=$SECONDS
round=0
killed_total=0
finished_total=0
while ((round < MAX_ROUNDS && SECONDS - start < ROUND_BUDGET_S)); do
  round=$((round + 1))
  (start_round "$round") 2>/dev/null || fail "round $round: the test's own process launcher failed"
  [[ -s "$TMP/runs/r$round.jobs" ]] || fail "round $round: no process results recorded"
  while read -r j kind arg rc; do
    out="$TMP/runs/r$round-$j"
    case "$kind" in
      put)
        want="${SRC_HASH[$arg]}"
        if grep -Eqx '[0-9a-f]{64}' "$out.out"; then
          got="$(grep -Ex '[0-9a-f]{64}' "$out.out")"
          assert_eq "$got" "$want" "round $round: put of ${SRC[$arg]} printed a hash that is not b3sum's"
          echo "$got" >>"$ACKED"
        elif [[ "$rc" == 0 ]]; then
          fail "round $round: put of ${SRC[$arg]} exited 0 without printing its hash (stdout: $(cat "$out.out"))"
        fi
        ;;
      pin)
        if grep -Eq "^$arg  [0-9]+\$" "$out.out"; then
          echo "$arg" >>"$PIN_ACKED"
        elif [[ "$rc" == 0 ]]; then
          fail "round $round: pin add $arg exited 0 without printing the new count"
        fi
        ;;
      get)
        if [[ -e "$out.get" ]]; then
          cmp -s "$out.get" "${SRC_OF[$arg]}" ||
            fail "round $round: get $arg -o FILE (exit $rc) left a target file that differs from the blob"
        elif [[ "$rc" == 0 ]]; then
          fail "round $round: get $arg -o FILE exited 0 but the file is not there"
        fi
        ;;
    esac
    if [[ "$rc" == 137 ]]; then
      killed_total=$((killed_total + 1))
    elif [[ "$rc" == 0 ]]; then
      finished_total=$((finished_total + 1))
    else
      fail "round $round: $kind exited $rc without being killed: $(cat "$out.err")"
    fi
  done <"$TMP/runs/r$round.jobs"
  if ((round % 10 == 0)); then check_store "after round $round"; fi
done
log "  $round rounds: $killed_total processes killed, $finished_total finished; $(acked_hashes | wc -l) distinct blobs acknowledged"
(($(acked_hashes | wc -l) > 0)) || fail "no put was ever acknowledged: every put was killed too early to test anything"

check_store "after the kill -9 rounds"
check_pins "after the kill -9 rounds"

# ---------------------------------------------------------------------------------------
# kill_during DESC MIN_MS MAX_MS CMD...: starts CMD in the background, kills it after a
# random MIN_MS..MAX_MS-1 ms, and says whether the kill landed while it ran. CMD must be
# the binary itself, not a shell function: killing a function's subshell would leave
# the bzzz it started running.
kill_during() {
  local desc="$1" min_ms="$2" max_ms="$3" rc
  shift 3
  (
    "$@" >"$TMP/killed.out" 2>"$TMP/killed.err" &
    pid=$!
    sleep "$(printf '0.%03d' $((min_ms + RANDOM % (max_ms - min_ms))))"
    kill -9 "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    echo "$rc" >"$TMP/killed.rc"
  ) 2>/dev/null
  rc="$(cat "$TMP/killed.rc")"
  KILLED=0
  case "$rc" in
    137)
      KILLED=1
      log "  $desc: killed mid-run"
      ;;
    0) log "  $desc: finished before the kill" ;;
    *) fail "$desc: exited $rc: $(cat "$TMP/killed.err")" ;;
  esac
}

test_gc_kill() {
  local attempt h f pinned=() n=0 delay=40
  # Keep every other acknowledged blob pinned; the rest are fair game for gc.
  while read -r h; do
    if ((n++ % 2 == 0)); then pinned+=("$h"); fi
  done < <(acked_hashes)
  if ((${#pinned[@]} > 0)); then
    bz pin add "${pinned[@]}" >/dev/null || fail "pin add before gc failed"
  fi
  local pins_before
  pins_before="$(bz pin ls)"
  # The kill moment adapts: later after a gc that was killed, earlier after one that
  # finished first, so most kills land near its end, where it removes files.
  for attempt in 1 2 3 4 5 6 7 8; do
    # Plenty to remove: every source file, so the kill lands inside real work.
    for f in "${SRC[@]}"; do bz put "$f" >/dev/null || fail "put $f before gc attempt $attempt failed"; done
    kill_during "gc --grace 0 (attempt $attempt, kill after ~${delay} ms)" "$delay" $((delay + 10)) \
      "$BZZZ_BIN" --data "$DATA" gc --grace 0
    if ((KILLED)); then delay=$((delay + 5 + RANDOM % 10)); else delay=$((delay * 3 / 4 + 1)); fi
    check_clean "after killing gc (attempt $attempt)"
    assert_eq "$(bz pin ls)" "$pins_before" "pins after killing gc (attempt $attempt)"
    for h in "${pinned[@]}"; do
      bz get "$h" | cmp -s - "${SRC_OF[$h]}" || fail "pinned blob $h does not read back after killing gc"
    done
    # Whatever is still listed is intact (verify checked it) and counted right.
    assert_eq "$(bz --json stats | json_field blobs)" "$(bz ls | wc -l)" "stats vs ls after killing gc"
  done
  # Random moments rarely hit the few milliseconds in which gc removes files; when strace
  # can deliver the SIGKILL at a chosen syscall, also kill it at its 3rd file removal.
  local rc=0
  (strace -f -o /dev/null -e trace=write -e inject=write:signal=KILL:when=1 /bin/echo probe >/dev/null ||
    exit $?) 2>/dev/null || rc=$?
  if [[ "$rc" == 137 ]]; then
    for f in "${SRC[@]}"; do bz put "$f" >/dev/null || fail "put $f before the last gc attempt failed"; done
    (strace -f -o /dev/null -e trace=unlink -e inject=unlink:signal=KILL:when=3 \
      "$BZZZ_BIN" --data "$DATA" gc --grace 0 >/dev/null 2>&1 || exit $?) 2>/dev/null || rc=$?
    [[ "$rc" == 137 ]] || fail "gc under strace was not killed at its 3rd unlink (exit $rc)"
    log "  gc --grace 0 (killed at its 3rd file removal)"
    check_clean "after killing gc while it removed files"
    assert_eq "$(bz pin ls)" "$pins_before" "pins after killing gc while it removed files"
    for h in "${pinned[@]}"; do
      bz get "$h" | cmp -s - "${SRC_OF[$h]}" || fail "pinned blob $h does not read back after killing gc"
    done
  else
    log "  (strace cannot kill at a chosen syscall here: random kill moments only)"
  fi
  run bz gc --grace 0
  [[ "$RUN_RC" == 0 ]] || fail "gc to completion after the kills: $(run_dump)"
  check_clean "after a complete gc"
  # What is left is exactly what is pinned (here or by the rounds' pin adds).
  assert_eq "$(bz ls | awk '{print $1}' | sort)" "$(bz pin ls | awk '{print $1}' | sort)" \
    "blobs left after a complete gc vs pinned blobs"
  for h in "${pinned[@]}"; do
    bz get "$h" | cmp -s - "${SRC_OF[$h]}" || fail "pinned blob $h does not read back after a complete gc"
  done
}

# The optimize and rebuild sections use stores of their own, so that whatever the gc
# section leaves behind cannot mask or cause their results.
test_optimize_kill() {
  local i h hashes=() attempt
  DATA="$TMP/data-optimize"
  for i in 1 2 3 4 5 6; do
    make_text "$TMP/in/opt-$i" $((2 * MiB + i * 4096)) "opt$i"
    h="$(put_ok "$TMP/in/opt-$i" --compression none)"
    SRC_OF["$h"]="$TMP/in/opt-$i"
    hashes+=("$h")
    assert_eq "$(stat_field "$h" codec)" raw "opt-$i codec before optimize"
  done
  local delay=60
  for attempt in 1 2 3 4 5; do
    # Back to raw first (to completion), so every attempt has all the work to do; the
    # kill moment adapts as for gc.
    bz --compression none optimize >/dev/null || fail "optimize back to raw before attempt $attempt failed"
    kill_during "optimize to zstd (attempt $attempt, kill after ~${delay} ms)" "$delay" $((delay + 20)) \
      "$BZZZ_BIN" --data "$DATA" --compression zstd optimize
    if ((KILLED)); then delay=$((delay + 10 + RANDOM % 20)); else delay=$((delay * 2 / 3 + 1)); fi
    check_clean "after killing optimize (attempt $attempt)"
    [[ -z "$(find "$DATA/blobs/temp" -mindepth 1 | head -1)" ]] || fail "blobs/temp not emptied after killing optimize"
    for h in "${hashes[@]}"; do
      get_matches "$h" "${SRC_OF[$h]}" "blob $h after killing optimize"
    done
  done
  run bz --compression zstd optimize
  [[ "$RUN_RC" == 0 ]] || fail "optimize to completion after the kills: $(run_dump)"
  for h in "${hashes[@]}"; do
    assert_eq "$(stat_field "$h" codec)" zstd "codec of $h after a complete optimize"
    get_matches "$h" "${SRC_OF[$h]}" "blob $h after a complete optimize"
  done
  check_clean "after a complete optimize"
}

test_rebuild_kill() {
  local ls_before pins_before attempt h f delay=20 i
  DATA="$TMP/data-rebuild"
  for f in "${SRC[@]}"; do put_ok "$f" >/dev/null; done
  # Some pins, one blob pinned twice, one pinned and unpinned again.
  bz pin add "${SRC_HASH[0]}" "${SRC_HASH[0]}" "${SRC_HASH[3]}" "${SRC_HASH[4]}" >/dev/null || fail "pin add failed"
  bz pin rm "${SRC_HASH[4]}" >/dev/null || fail "pin rm failed"
  ls_before="$(bz ls)"
  pins_before="$(bz pin ls)"
  for attempt in 1 2 3 4 5; do
    kill_during "index rebuild (attempt $attempt, kill after ~${delay} ms)" "$delay" $((delay + 10)) \
      "$BZZZ_BIN" --data "$DATA" index rebuild
    if ((KILLED)); then delay=$((delay + 3 + RANDOM % 6)); else delay=$((delay * 3 / 4 + 1)); fi
    check_clean "after killing index rebuild (attempt $attempt)"
    assert_eq "$(bz ls)" "$ls_before" "ls after killing index rebuild (attempt $attempt)"
    assert_eq "$(bz pin ls)" "$pins_before" "pin ls after killing index rebuild (attempt $attempt)"
  done
  for ((i = 0; i < POOL; i++)); do
    bz get "${SRC_HASH[$i]}" | cmp -s - "${SRC[$i]}" || fail "blob ${SRC_HASH[$i]} does not read back after killing index rebuild"
  done
}

section "kill -9 during gc" test_gc_kill
section "kill -9 during optimize" test_optimize_kill
section "kill -9 during index rebuild" test_rebuild_kill
finish_tests crash
