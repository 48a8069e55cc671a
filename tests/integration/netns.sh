# Helpers for script tests that play several machines with network namespaces (root
# only). Source it after tests/cli/lib.sh:
#   source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
#
#   netns_setup NAME COUNT SUBNET   a bridge and COUNT namespaces NS[1..COUNT]
#                                   ("bzzz-NAME-<pid>-I"), each with eth0 = SUBNET.I/24 on
#                                   the bridge, up with carrier, the bridge proven to
#                                   carry packets; removed when the test exits. Returns 1
#                                   with NETNS_ERR saying why when the kernel refuses.
# Interface names come from the test's pid (at most 15 characters), so parallel tests
# stay apart. Multicast snooping is off on the bridge, so mDNS floods.

declare -a NS=()
NETNS_ERR=""
_NETNS_BR=""

netns_teardown() {
  local ns
  for ns in "${NS[@]}"; do [[ -n "$ns" ]] && ip netns del "$ns" 2>/dev/null; done
  [[ -n "$_NETNS_BR" ]] && ip link del "$_NETNS_BR" 2>/dev/null
  return 0
}

netns_setup() {
  local name="$1" count="$2" subnet="$3" tag="$$" i t ns
  command -v ip >/dev/null 2>&1 || { NETNS_ERR="'ip' (iproute2) is not installed"; return 1; }
  _NETNS_BR="bzb$tag"
  on_exit netns_teardown
  if ! ip link add "$_NETNS_BR" type bridge 2>"$TMP/ip.err"; then
    NETNS_ERR="cannot create a bridge here: $(cat "$TMP/ip.err")"
    _NETNS_BR=""
    return 1
  fi
  ip link set "$_NETNS_BR" type bridge mcast_snooping 0
  ip link set "$_NETNS_BR" up
  for ((i = 1; i <= count; i++)); do
    ns="bzzz-$name-$tag-$i"
    if ! ip netns add "$ns" 2>"$TMP/ip.err"; then
      NETNS_ERR="cannot create a network namespace here: $(cat "$TMP/ip.err")"
      return 1
    fi
    NS[$i]="$ns"
    ip link add "bzv${tag}n$i" type veth peer name "bzv${tag}b$i"
    ip link set "bzv${tag}b$i" master "$_NETNS_BR" up
    ip link set "bzv${tag}n$i" netns "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "bzv${tag}n$i" name eth0
    ip -n "$ns" addr add "$subnet.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  # Both ends of every veth must be up (carrier) before nodes scan their interfaces.
  for ((i = 1; i <= count; i++)); do
    for ((t = 0; t < 50; t++)); do
      ip -n "${NS[$i]}" link show eth0 | grep -q 'LOWER_UP' && break
      sleep 0.1
    done
  done
  # A TCP probe of a closed port: "refused" proves the bridge carries packets (no ping needed).
  timeout 10 ip netns exec "${NS[1]}" bash -c "exec 3<>/dev/tcp/$subnet.2/9" 2>"$TMP/probe.err" || true
  grep -q "refused" "$TMP/probe.err" || fail "namespace 1 cannot reach $subnet.2 over the bridge: $(cat "$TMP/probe.err")"
  log "network: bridge $_NETNS_BR, namespaces bzzz-$name-$tag-{1..$count} on $subnet.0/24"
}
