#!/usr/bin/env bash
# `bzzz id`: the node's identity is made on first use (mode 0600), kept, printed with
# the listen addresses, and refused when others may read it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd jq

first() {
  run env -u BZZZ_P2P_LISTEN "$BZZZ_BIN" --data "$DATA" --json id
  [[ "$RUN_RC" == 0 ]] || fail "id: $(run_dump)"
  ID="$(jq -r .peer_id <<<"$RUN_OUT")"
  [[ "$ID" == 12D3KooW* ]] || fail "an Ed25519 peer id starts 12D3KooW, got $ID"
  assert_eq "$(jq -r .created <<<"$RUN_OUT")" true "the first id creates the key"
  assert_eq "$(stat -c %a "$DATA/identity.key")" 600 "key file mode"
  assert_eq "$(jq -r '.listen[0]' <<<"$RUN_OUT")" "/ip4/0.0.0.0/tcp/9000/p2p/$ID" "default listen address"
  run bz id
  assert_eq "$(head -1 <<<"$RUN_OUT")" "$ID" "the same id the second time"
  run env BZZZ_P2P_LISTEN=/ip4/127.0.0.1/tcp/4001,/ip6/::1/tcp/4001 "$BZZZ_BIN" --data "$DATA" --json id
  assert_eq "$(jq -r '.listen | join(" ")' <<<"$RUN_OUT")" \
    "/ip4/127.0.0.1/tcp/4001/p2p/$ID /ip6/::1/tcp/4001/p2p/$ID" "listen addresses from the environment"
}
section "made once, kept, printed with its addresses" first

refused() {
  bz id >/dev/null
  chmod 644 "$DATA/identity.key"
  expect_rc 1 "a readable key" bz id
  assert_contains "$RUN_ERR" "chmod 600" "says how to fix it"
  chmod 600 "$DATA/identity.key"
  expect_rc 2 "a bad p2p.listen" env BZZZ_P2P_LISTEN=/quic/1 "$BZZZ_BIN" --data "$DATA" id
  assert_contains "$RUN_ERR" "BZZZ_P2P_LISTEN" "names the variable"
}
section "a key others may read is refused; bad addresses are named" refused

finish_tests id_test
