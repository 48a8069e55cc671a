# Shared helpers for the bench scripts (source it).

# stop PID: SIGTERM a process we started, up to 10 s, then SIGKILL.
stop() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# js_why ROOT: why the js side of a benchmark cannot run here (empty when it can):
# Node >= 20.19 and ROOT/tests/interop/node_modules are needed.
js_why() {
  if ! command -v node >/dev/null; then
    echo 'node is not installed'
  elif ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "node $(node --version) is older than 20.19"
  elif [[ ! -d $1/tests/interop/node_modules ]]; then
    echo 'tests/interop/node_modules is missing (npm ci --prefix tests/interop)'
  fi
}
