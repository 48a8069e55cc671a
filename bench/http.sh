#!/usr/bin/env bash
# HTTP benchmarks: the bzzz node against nginx on loopback, both driven by the same client
# (bzzz_http_bench) in the same run, bzzz and nginx alternating, median of RUNS each:
#   idle node RSS, 2 s after start                    (goal < 30 MiB)
#   GET of a 1 GiB random blob     vs nginx sendfile of the same bytes (goal >= 0.8)
#   GET of a 4 KiB blob, 16 conns  vs nginx serving the same 4 KiB file
#   4 KiB durable puts, 16 conns   (no anchor: nginx cannot store; goal >= 5000/s)
#   4 KiB gets of those blobs      (goal >= 20000/s)
# nginx (Debian nginx-light) runs from a generated config in a temp dir with 1 worker
# process, sendfile, tcp_nopush, open_file_cache and unlimited keep-alive requests.
# Usage: bench/http.sh [BUILD_DIR]
#   HTTP_BENCH_DIR (parent of the temp dir; default $TMPDIR or /var/tmp), HTTP_BENCH_SIZE_MB
#   (1024), HTTP_BENCH_SECONDS (5 per load run), HTTP_BENCH_CONNS (16), BENCH_RUNS (3)
#   override; SKIP_BZZZ=1 measures the nginx side only (checks the client and the anchor).
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bzzz
CLIENT=$BUILD/bench/bzzz_http_bench
NGINX=${NGINX:-/usr/sbin/nginx}
SIZE_MB=${HTTP_BENCH_SIZE_MB:-1024}
LOAD_S=${HTTP_BENCH_SECONDS:-5}
CONNS=${HTTP_BENCH_CONNS:-16}
RUNS=${BENCH_RUNS:-3}
SKIP_BZZZ=${SKIP_BZZZ:-0}

die() { echo "bench: $*" >&2; exit 1; }
[[ -x $NGINX ]] || die "nginx missing (apt-get install nginx-light)"
command -v curl >/dev/null || die "curl missing"
command -v python3 >/dev/null || die "python3 missing (used to pick free ports)"
[[ -x $CLIENT ]] || die "$CLIENT missing (build the bzzz_http_bench target)"
[[ $SKIP_BZZZ == 1 || -x $BIN ]] || die "$BIN missing (build it, or SKIP_BZZZ=1 for nginx only)"

# The blob store and nginx's root share one filesystem, so both read the same kind of disk.
WORK=$(mktemp -d "${HTTP_BENCH_DIR:-${TMPDIR:-/var/tmp}}/bzzz-http.XXXXXX")
WWW=$WORK/www NG=$WORK/nginx
NGINX_PID='' NODE_PID=''
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # stop PID
cleanup() {
  [[ -z $NODE_PID ]] || stop "$NODE_PID"
  [[ -z $NGINX_PID ]] || stop "$NGINX_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
NPORT=$(free_port)
BPORT=$(free_port)
while [[ $BPORT == "$NPORT" ]]; do BPORT=$(free_port); done
NGINX_URL=http://127.0.0.1:$NPORT
BZZZ_URL=http://127.0.0.1:$BPORT

# field NAME JSON: one value of a flat JSON object.
field() { sed -E 's/.*"'"$1"'":"?([^,"}]*).*/\1/' <<<"$2"; }
# med NAME JSON...: the median of a field over several JSON lines.
med() {
  local name=$1; shift
  for j in "$@"; do field "$name" "$j"; done | sort -g | sed -n "$(( ($# + 1) / 2 ))p"
}
# sum NAME JSON...
sum() {
  local name=$1 total=0; shift
  for j in "$@"; do total=$(( total + $(field "$name" "$j") )); done
  echo "$total"
}
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
# Runs the bzzz side (unless SKIP_BZZZ) and the nginx side alternately, RUNS times each;
# their JSON lines go to OUT_B (bzzz) and OUT_N (nginx).
alternate() {
  local b=$1 n=$2
  OUT_B=() OUT_N=()
  for _ in $(seq "$RUNS"); do
    [[ $SKIP_BZZZ == 1 ]] || OUT_B+=("$($b)")
    OUT_N+=("$($n)")
  done
}
errors_note() {
  local e; e=$(sum errors "$@")
  [[ $e == 0 ]] || printf '  (%s errors)' "$e"
}

# --- inputs --------------------------------------------------------------------------------
mkdir -p "$WWW" "$NG" "$WORK/data"
head -c $((SIZE_MB << 20)) /dev/urandom > "$WWW/big.bin"
head -c 4096 /dev/urandom > "$WWW/small.bin"
cat "$WWW/big.bin" > /dev/null  # warm the page cache for both sides alike

# --- nginx -------------------------------------------------------------------------------------
# As root, nginx's workers would drop to www-data and could not read the 0700 temp dir.
user_line=''
[[ $EUID -ne 0 ]] || user_line='user root;'
cat > "$NG/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=64;
  client_body_temp_path $NG/client_body;
  proxy_temp_path $NG/proxy;
  fastcgi_temp_path $NG/fastcgi;
  uwsgi_temp_path $NG/uwsgi;
  scgi_temp_path $NG/scgi;
  server {
    listen 127.0.0.1:$NPORT;
    root $WWW;
  }
}
EOF
"$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" &
NGINX_PID=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null "$NGINX_URL/small.bin" 2>/dev/null && break
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$NG/error.log" >&2; die "nginx did not start"; }
  sleep 0.1
done
curl -fsS -o /dev/null "$NGINX_URL/small.bin" || { cat "$NG/error.log" >&2; die "nginx not answering"; }
nginx_version=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')

# --- bzzz node -------------------------------------------------------------------------------
node_threads='-'
if [[ $SKIP_BZZZ != 1 ]]; then
  # (mDNS off: a benchmark measures the node alone, not dials to whatever is on the LAN.)
  BZZZ_API_LISTEN=127.0.0.1:$BPORT BZZZ_MDNS_ENABLED=false "$BIN" node --data "$WORK/data" 2>"$WORK/node.log" &
  NODE_PID=$!
  ready=0
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null "$BZZZ_URL/health/ready" 2>/dev/null; then ready=1; break; fi
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ $ready != 1 ]]; then
    tail -20 "$WORK/node.log" >&2
    die "bzzz node not ready on $BZZZ_URL within 30 s"
  fi
  sleep 2  # idle right after start, before any upload
  rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$NODE_PID/status")
  node_threads=$(awk '/^Threads:/ { print $2 }' "/proc/$NODE_PID/status")
fi

echo "bzzz HTTP benchmarks ($(nproc) cores; median of $RUNS, bzzz and nginx alternating, same client)"
echo "  nginx $nginx_version: 1 worker process, sendfile, tcp_nopush, open_file_cache;" \
  "bzzz node: its own thread settings ($node_threads threads when idle)"
if [[ $SKIP_BZZZ != 1 ]]; then
  printf 'idle node RSS    bzzz %7.1f MiB                                     (goal < 30 MiB)\n' \
    "$(echo "$rss_kib / 1024" | bc -l)"
  up() {  # up FILE: POST it, streamed; prints the hash
    local out
    out=$(curl -fsS -X POST -T "$1" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
      "$BZZZ_URL/v1/blobs") || die "upload of $1 failed"
    local h; h=$(field hash "$out")
    [[ $h =~ ^[0-9a-f]{64}$ ]] || die "upload of $1: no hash in answer: $out"
    echo "$h"
  }
  BIG_HASH=$(up "$WWW/big.bin")
  SMALL_HASH=$(up "$WWW/small.bin")
fi

# --- a) one large GET --------------------------------------------------------------------------
big_b() { "$CLIENT" download "$BZZZ_URL/v1/blobs/$BIG_HASH" --repeat 1; }
big_n() { "$CLIENT" download "$NGINX_URL/big.bin" --repeat 1; }
alternate big_b big_n
for j in "${OUT_B[@]}" "${OUT_N[@]}"; do
  [[ $(field bytes "$j") == $((SIZE_MB << 20)) ]] || die "download size wrong: $j"
done
mn=$(med mib_per_s "${OUT_N[@]}")
if [[ $SKIP_BZZZ == 1 ]]; then
  printf 'get %4d MiB     nginx %7.0f MiB/s\n' "$SIZE_MB" "$mn"
else
  mb=$(med mib_per_s "${OUT_B[@]}")
  printf 'get %4d MiB     bzzz %7.0f MiB/s   nginx %7.0f MiB/s   speed ratio %s  (goal >= 0.8)\n' \
    "$SIZE_MB" "$mb" "$mn" "$(ratio "$mb" "$mn")"
fi

# --- b) one small resource, many connections -----------------------------------------------------
small_b() { "$CLIENT" get "$BZZZ_URL/v1/blobs/$SMALL_HASH" --conns "$CONNS" --seconds "$LOAD_S"; }
small_n() { "$CLIENT" get "$NGINX_URL/small.bin" --conns "$CONNS" --seconds "$LOAD_S"; }
alternate small_b small_n
rn=$(med rate "${OUT_N[@]}")
nginx_small=$(printf 'nginx %7.0f /s p50 %4d us p99 %5d us%s' "$rn" \
  "$(med p50_us "${OUT_N[@]}")" "$(med p99_us "${OUT_N[@]}")" "$(errors_note "${OUT_N[@]}")")
if [[ $SKIP_BZZZ == 1 ]]; then
  printf 'get 4 KiB x%-4d  %s\n' "$CONNS" "$nginx_small"
else
  rb=$(med rate "${OUT_B[@]}")
  printf 'get 4 KiB x%-4d  bzzz %7.0f /s p50 %4d us p99 %5d us%s   %s   rate ratio %s\n' \
    "$CONNS" "$rb" "$(med p50_us "${OUT_B[@]}")" "$(med p99_us "${OUT_B[@]}")" \
    "$(errors_note "${OUT_B[@]}")" "$nginx_small" "$(ratio "$rb" "$rn")"
fi

# --- c) many small durable puts, then gets of them ---------------------------------------------
if [[ $SKIP_BZZZ != 1 ]]; then
  puts=()
  for i in $(seq "$RUNS"); do
    puts+=("$("$CLIENT" put "$BZZZ_URL/v1/blobs" --conns "$CONNS" --seconds "$LOAD_S" \
      --size 4096 --save-hashes "$WORK/hashes.$i")")
  done
  cat "$WORK"/hashes.* > "$WORK/hashes"
  printf 'put 4 KiB x%-4d  bzzz %7.0f /s p50 %4d us p99 %5d us%s   durable, distinct blobs  (goal >= 5000/s)\n' \
    "$CONNS" "$(med rate "${puts[@]}")" "$(med p50_us "${puts[@]}")" "$(med p99_us "${puts[@]}")" \
    "$(errors_note "${puts[@]}")"
  [[ -s $WORK/hashes ]] || die "the puts returned no hashes"
  gets=()
  for _ in $(seq "$RUNS"); do
    gets+=("$("$CLIENT" getlist "$BZZZ_URL/v1/blobs/" --list "$WORK/hashes" --conns "$CONNS" \
      --seconds "$LOAD_S")")
  done
  printf 'get 4 KiB x%-4d  bzzz %7.0f /s p50 %4d us p99 %5d us%s   over %d stored blobs  (goal >= 20000/s)\n' \
    "$CONNS" "$(med rate "${gets[@]}")" "$(med p50_us "${gets[@]}")" "$(med p99_us "${gets[@]}")" \
    "$(errors_note "${gets[@]}")" "$(wc -l < "$WORK/hashes")"
fi
