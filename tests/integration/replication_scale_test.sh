#!/usr/bin/env bash
# Replication at scale: ten nodes on loopback, factor 3. 1,000 blobs of 1 MiB are put,
# pinned, round-robin over the nodes; once repair settles, every blob is pinned on
# exactly its three responsible nodes (computed here, independently of the node, by
# placement_check.py) and nowhere else, and provider lookups from every node find its
# holders. No node reports an under-replicated blob.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"
need_cmd curl jq python3
CHECK="$(dirname "${BASH_SOURCE[0]}")/placement_check.py"
N=10
BLOBS="${BZZZ_SCALE_BLOBS:-1000}"

NODE_SETTINGS=(--set replication.repair_interval=3s --set replication.settle_delay=500ms)
start_node 1
for ((i = 2; i <= N; i++)); do start_node "$i" "$(addr 1)"; done
all_apis=()
for ((i = 1; i <= N; i++)); do all_apis+=("127.0.0.1:${APIS[$i]}"); done

live() { [[ "$(curl -s -X POST "http://127.0.0.1:${APIS[$1]}/v1/replication/repair" | jq -r .live_nodes)" == "$N" ]]; }
for ((i = 1; i <= N; i++)); do wait_until 60 "node $i sees all $N nodes" live "$i"; done

log "putting $BLOBS blobs of 1 MiB, pinned, round-robin over $N nodes"
started=$SECONDS
python3 "$CHECK" put "$BLOBS" $((1024 * 1024)) "${all_apis[@]}" >"$TMP/hashes" || fail "the puts failed"
assert_eq "$(sort -u "$TMP/hashes" | wc -l)" "$BLOBS" "distinct hashes put"
log "   put in $((SECONDS - started)) s"

# Settled: a pass of rounds on every node pushes and drops nothing, and none is
# under-replicated.
quiet() {
  local i doc
  for ((i = 1; i <= N; i++)); do
    doc="$(curl -s -X POST "http://127.0.0.1:${APIS[$i]}/v1/replication/repair")"
    [[ "$(jq -r '.pushed + .dropped + .under_replicated + .failed' <<<"$doc")" == 0 ]] || return 1
  done
}
wait_until 400 "replication settles" quiet
log "   settled $((SECONDS - started)) s after the first put"
python3 "$CHECK" check 3 "$TMP/hashes" "${all_apis[@]}" || fail "blobs are not on exactly their responsible nodes"

log "provider lookups from every node find each blob's holders"
python3 "$CHECK" providers 3 "$TMP/hashes" 10 "${all_apis[@]}" || fail "provider lookups missed holders"
for ((i = 1; i <= N; i++)); do
  assert_eq "$(api "$i" /v1/replication | jq -r .under_replicated)" 0 "under-replicated blobs on node $i"
done
log "ok: $BLOBS blobs on their responsible nodes in $((SECONDS - started)) s"
