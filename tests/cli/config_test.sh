#!/usr/bin/env bash
# Configuration: the shipped example is every option at its default and checks clean;
# file < environment < flags, each value showing where it came from; secrets from
# files and redacted; unknown keys and bad values named with their source.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXAMPLE="$BZZZ_SOURCE_DIR/etc/bzzz.example.yaml"

section "the example file is what 'config example' prints, and it checks clean" bash -c '
  set -e
  diff <("$0" config example) "$1" || { echo "etc/bzzz.example.yaml is out of date: regenerate with bzzz config example" >&2; exit 1; }
  "$0" config check "$1" | grep -q "valid"
' "$BZZZ_BIN" "$EXAMPLE"

precedence() {
  printf 'api:\n  listen: 127.0.0.1:7001\nstore:\n  level: 5\n' >"$TMP/c.yaml"
  run env BZZZ_STORE_LEVEL=7 "$BZZZ_BIN" --config "$TMP/c.yaml" --set store.threads=2 --json config show
  [[ "$RUN_RC" == 0 ]] || fail "config show: $(run_dump)"
  assert_eq "$(jq -r '."api.listen".value' <<<"$RUN_OUT")" "127.0.0.1:7001" "api.listen from the file"
  assert_eq "$(jq -r '."api.listen".origin' <<<"$RUN_OUT")" "$TMP/c.yaml:2" "api.listen origin"
  assert_eq "$(jq -r '."store.level".value' <<<"$RUN_OUT")" "7" "the environment beats the file"
  assert_eq "$(jq -r '."store.level".origin' <<<"$RUN_OUT")" "BZZZ_STORE_LEVEL" "store.level origin"
  assert_eq "$(jq -r '."store.threads".source' <<<"$RUN_OUT")" "flag" "store.threads from --set"
  assert_eq "$(jq -r '."log.level".source' <<<"$RUN_OUT")" "default" "untouched keys are defaults"
  # BZZZ_CONFIG names the file too.
  run env BZZZ_CONFIG="$TMP/c.yaml" "$BZZZ_BIN" --json config show
  assert_eq "$(jq -r '."api.listen".value' <<<"$RUN_OUT")" "127.0.0.1:7001" "BZZZ_CONFIG"
}
section "file < environment < flags, with origins" precedence

secrets() {
  printf 's3cret-token\n' >"$TMP/token"
  run env BZZZ_API_TOKEN_FILE="$TMP/token" "$BZZZ_BIN" config show
  [[ "$RUN_RC" == 0 ]] || fail "config show: $(run_dump)"
  assert_contains "$RUN_OUT" "<redacted>" "a set secret is shown redacted"
  assert_not_contains "$RUN_OUT" "s3cret" "the secret itself is never shown"
  assert_contains "$RUN_OUT" "BZZZ_API_TOKEN_FILE" "its origin names the variable"
  run env BZZZ_API_TOKEN_FILE="$TMP/missing" "$BZZZ_BIN" config show
  expect_rc 2 "a missing secret file" env BZZZ_API_TOKEN_FILE="$TMP/missing" "$BZZZ_BIN" config show
  assert_contains "$RUN_ERR" "$TMP/missing" "the error names the missing file"
  expect_rc 2 "x and x_file together" env BZZZ_API_TOKEN=a BZZZ_API_TOKEN_FILE="$TMP/token" "$BZZZ_BIN" config show
}
section "secrets from files, redacted" secrets

bad_config() {
  printf 'api:\n  listn: 127.0.0.1:1\n' >"$TMP/bad.yaml"
  expect_rc 1 "config check of an unknown key" "$BZZZ_BIN" config check "$TMP/bad.yaml"
  assert_contains "$RUN_ERR" "api.listn" "names the unknown key"
  assert_contains "$RUN_ERR" "bad.yaml:2" "names the file and line"
  expect_rc 2 "a bad value in the environment" env BZZZ_API_LISTEN=nonsense "$BZZZ_BIN" config show
  assert_contains "$RUN_ERR" "BZZZ_API_LISTEN" "names the variable"
  assert_contains "$RUN_ERR" "nonsense" "names the value"
  expect_rc 2 "a bad --set" "$BZZZ_BIN" --set health.interval=soon config show
  assert_contains "$RUN_ERR" "health.interval" "names the key"
  expect_rc 2 "--set without =" "$BZZZ_BIN" --set health.interval config show
  printf 'api: [1, 2\n' >"$TMP/broken.yaml"
  expect_rc 1 "malformed YAML" "$BZZZ_BIN" config check "$TMP/broken.yaml"
  assert_contains "$RUN_ERR" "broken.yaml" "names the file"
}
section "unknown keys and bad values are named with their source" bad_config

finish_tests config_test
