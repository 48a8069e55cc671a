#!/usr/bin/env bash
# Benchmarks, each printed as a ratio against its anchor measured in the same run:
#   hashing a 1 GiB file        vs b3sum (1 thread, and all threads)
#   bzzz put of 1 GiB random    vs cp + sync to the same disk
#   bzzz get of it              vs cat of the stored file
#   small blobs, in process     vs one file per blob with fsync (bzzz_store_bench)
#   verify and gc over 1M blobs (time; goal under 30 s each)
# Usage: bench/run.sh [BUILD_DIR]   (BENCH_DIR, BENCH_SIZE_MB, BENCH_SCALE, BENCH_RUNS override)
set -euo pipefail
BUILD=${1:-build}
BZZZ=$BUILD/bzzz
WORK=${BENCH_DIR:-/var/tmp/bzzz-bench}
SIZE_MB=${BENCH_SIZE_MB:-1024}
SCALE=${BENCH_SCALE:-1000000}
RUNS=${BENCH_RUNS:-3}
command -v b3sum >/dev/null || { echo "bench: b3sum missing (make setup)" >&2; exit 1; }

rm -rf "$WORK"; mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
now() { date +%s.%N; }
# median of RUNS timings of a command; cleanup (untimed) runs before each attempt
time_median() {
  local cleanup=$1; shift
  local times=()
  for _ in $(seq "$RUNS"); do
    eval "$cleanup"
    local t0; t0=$(now)
    "$@" >/dev/null
    times+=("$(echo "$(now) - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"
}
# Times two commands alternately (so both meet the same disk weather), RUNS times each;
# sets MEDIAN_A and MEDIAN_B. Arguments: cleanup command, then the two function names.
compare() {
  local cleanup=$1 a=$2 b=$3 ta=() tb=()
  for _ in $(seq "$RUNS"); do
    for side in a b; do
      eval "$cleanup"
      local t0; t0=$(now)
      if [[ $side == a ]]; then "$a" >/dev/null; else "$b" >/dev/null; fi
      local t; t=$(echo "$(now) - $t0" | bc -l)
      if [[ $side == a ]]; then ta+=("$t"); else tb+=("$t"); fi
    done
  done
  MEDIAN_A=$(printf '%s\n' "${ta[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")
  MEDIAN_B=$(printf '%s\n' "${tb[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")
}
ratio() { echo "scale=3; $1 / $2" | bc -l; }
mbps() { echo "scale=0; $SIZE_MB * 1.048576 / $1" | bc -l; }

echo "bzzz benchmarks ($(nproc) cores; $SIZE_MB MiB inputs; median of $RUNS, bzzz and anchor alternating)"
head -c $((SIZE_MB << 20)) /dev/urandom > "$WORK/input"
cat "$WORK/input" > /dev/null  # warm the page cache for both sides alike

# --- hashing -----------------------------------------------------------------------------
ours1=$(time_median : "$BZZZ" --threads 1 hash "$WORK/input")
ref1=$(time_median : b3sum --num-threads 1 "$WORK/input")
oursN=$(time_median : "$BZZZ" hash "$WORK/input")
refN=$(time_median : b3sum "$WORK/input")
printf 'hash 1 thread    bzzz %6.3f s (%s MB/s)  b3sum %6.3f s   speed ratio %s  (goal >= 0.95)\n' \
  "$ours1" "$(mbps "$ours1")" "$ref1" "$(ratio "$ref1" "$ours1")"
printf 'hash all threads bzzz %6.3f s (%s MB/s)  b3sum %6.3f s   speed ratio %s  (goal >= 0.9)\n' \
  "$oursN" "$(mbps "$oursN")" "$refN" "$(ratio "$refN" "$oursN")"

# --- put / get of a large incompressible blob --------------------------------------------
cp_sync() { cp "$WORK/input" "$WORK/copy" && sync; }
put() { "$BZZZ" --data "$WORK/data" put "$WORK/input"; }
compare 'rm -rf "$WORK/copy" "$WORK/data"; sync' put cp_sync
tput=$MEDIAN_A tcp=$MEDIAN_B
put >/dev/null  # leave the blob in place for the get comparison
printf 'put 1 GiB        bzzz %6.3f s  cp+sync %6.3f s   time ratio %s  (goal <= 1.5)\n' \
  "$tput" "$tcp" "$(ratio "$tput" "$tcp")"
hash=$(b3sum --no-names "$WORK/input")
blob=$(find "$WORK/data/blobs/data" -type f -name "$hash")
get() { "$BZZZ" --data "$WORK/data" get "$hash" -o "$WORK/out"; }
cat_blob() { cat "$blob" > "$WORK/out"; }
compare 'rm -f "$WORK/out"' get cat_blob
tget=$MEDIAN_A tcat=$MEDIAN_B
printf 'get 1 GiB        bzzz %6.3f s  cat     %6.3f s   time ratio %s  (verified before output)\n' \
  "$tget" "$tcat" "$(ratio "$tget" "$tcat")"
rm -rf "$WORK/data" "$WORK/out" "$WORK/copy" "$WORK/input"

# --- small blobs, verify and gc at scale ----------------------------------------------------
sync; sleep 3  # let the large files above finish writing back before timing fsyncs
"$BUILD/bench/bzzz_store_bench" "$WORK" small 100000 16 scale "$SCALE"
