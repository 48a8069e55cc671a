#!/usr/bin/env bash
# Gossipsub through the node's faces, two nodes on loopback (B bootstraps from A):
# `bzzz sub` on B prints what `bzzz pub` sends on A (text and binary), the event stream
# (GET /v1/pubsub/{topic}) carries signed messages with their publisher, GET /v1/pubsub
# lists the topics and mesh, the agents of both nodes find each other on
# bzzz/coordination/v1 (GET /v1/agents), the pubsub:loopback health check passes; bad
# input (a message over pubsub.max_message_size, a topic the path cannot carry) gets a
# clear error; SIGTERM with an event stream open still exits 0 promptly.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
need_cmd curl jq

source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"

settings_for() {
  NODE_SETTINGS=(--set agent.role="role$1" --set agent.capabilities="cap$1,shared"
    --set agent.availability_interval=1s --set pubsub.max_message_size=64KiB --set health.interval=1s)
}
topic_peer() { [[ "$(api "$1" /v1/pubsub | jq --arg t "$2" '[.topics[] | select(.topic == $t and (.peers | length) >= 1)] | length')" == 1 ]]; }
knows_agent() { [[ "$(api "$1" /v1/agents | jq --arg p "$2" '[.agents[] | select(.peer == $p and .stale == false and .profile != null and .availability != null)] | length')" == 1 ]]; }

settings_for 0
start_node 0
settings_for 1
start_node 1 "$(addr 0)"

log "pub/sub across two nodes"
cli 1 sub team/chat -n 3 >"$TMP/sub.out" 2>"$TMP/sub.err" &
SUB=$!
wait_until 15 "A hears B's subscription to team/chat" topic_peer 0 team/chat
cli 0 pub team/chat "hello from A" >/dev/null || fail "bzzz pub failed"
printf 'from stdin' | cli 0 pub team/chat - >/dev/null || fail "bzzz pub from stdin failed"
printf '\xff\x00\xfe' | cli 0 pub team/chat >/dev/null || fail "bzzz pub of binary failed"
for ((t = 0; t < 100; t++)); do alive "$SUB" || break; sleep 0.1; done
alive "$SUB" && fail "bzzz sub -n 3 did not end after three messages: $(cat "$TMP/sub.out")"
wait "$SUB" || fail "bzzz sub exited non-zero: $(cat "$TMP/sub.err")"
assert_eq "$(sed -n 1p "$TMP/sub.out")" "hello from A" "first message"
assert_eq "$(sed -n 2p "$TMP/sub.out")" "from stdin" "second message"
assert_eq "$(sed -n 3p "$TMP/sub.out")" "(binary, hex) ff00fe" "binary message (output: $(cat "$TMP/sub.out"))"

log "the event stream carries the publisher and the payload"
curl -sN --max-time 8 "http://127.0.0.1:${APIS[1]}/v1/pubsub/team/chat" >"$TMP/sse.out" &
CURL=$!
sleep 1
cli 0 pub team/chat '{"k":1}' >/dev/null
for ((t = 0; t < 50; t++)); do grep -q '^data: ' "$TMP/sse.out" && break; sleep 0.1; done
kill "$CURL" 2>/dev/null || true
EVENT="$(grep -m1 '^data: ' "$TMP/sse.out" | cut -c7-)"
[[ -n "$EVENT" ]] || fail "no event on the stream: $(cat "$TMP/sse.out")"
assert_eq "$(jq -r .from <<<"$EVENT")" "${IDS[0]}" "event publisher"
assert_eq "$(jq -r .data <<<"$EVENT")" '{"k":1}' "event payload"
assert_eq "$(jq -r .local <<<"$EVENT")" false "event local flag"
grep -q '^event: message' "$TMP/sse.out" || fail "no 'event: message' line"

log "topics, agents and health"
api 0 /v1/pubsub | jq -e --arg b "${IDS[1]}" '.peers | index($b)' >/dev/null || fail "A does not list B as a gossipsub peer"
wait_until 15 "A knows B's agent" knows_agent 0 "${IDS[1]}"
wait_until 15 "B knows A's agent" knows_agent 1 "${IDS[0]}"
assert_eq "$(api 1 /v1/agents | jq -r --arg p "${IDS[0]}" '.agents[] | select(.peer == $p) | .profile.role')" role0 "A's role as B heard it"
assert_eq "$(api 1 /v1/agents | jq -r '.self.role')" role1 "B's own role"
wait_until 10 "pubsub:loopback passes on A" check_passes 0 pubsub:loopback

log "bad input"
head -c 70000 /dev/zero | tr '\0' x >"$TMP/big"
CODE="$(curl -s -o "$TMP/big.out" -w '%{http_code}' --data-binary @"$TMP/big" "http://127.0.0.1:${APIS[0]}/v1/pubsub/team/chat")"
assert_eq "$CODE" 413 "status for a message over pubsub.max_message_size"
expect_rc 2 "pub on a topic with an empty segment" cli 0 pub "a//b" "x"
assert_contains "$RUN_ERR" "empty segment"
curl -s -o /dev/null "http://127.0.0.1:${APIS[0]}/health/ready" || fail "A stopped answering"

log "SIGTERM with an event stream open"
curl -sN --max-time 30 "http://127.0.0.1:${APIS[1]}/v1/pubsub/team/chat" >/dev/null &
CURL=$!
sleep 0.5
T0=$SECONDS
kill -TERM "${PIDS[1]}"
for ((t = 0; t < 100; t++)); do alive "${PIDS[1]}" || break; sleep 0.1; done
alive "${PIDS[1]}" && fail "B still running 10 s after SIGTERM with an event stream open"
set +e
wait "${PIDS[1]}"
RC=$?
set -e
assert_eq "$RC" 0 "B's exit code"
wait "$CURL" 2>/dev/null || true
log "  B exited in $((SECONDS - T0)) s"
kill -TERM "${PIDS[0]}"
finish_tests pubsub_node
