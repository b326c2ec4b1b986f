#!/usr/bin/env bash
# make run: build a three-namespace test network (client, server, upstream),
# serve DNS through AF_XDP with the project's coredns, show it answering,
# then serve until Ctrl-C or until DURATION seconds pass. Everything it makes
# is removed on exit, however it exits.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-./coredns}
DURATION=${DURATION:-0}
P=afxdp-run
CLI=$P-cli SRV=$P-srv UPS=$P-ups
WORK=$(mktemp -d /tmp/afxdp-run.XXXXXX)
chmod 755 "$WORK"
PIDS=()

if [ "$(id -u)" != 0 ]; then
	echo "make run needs root: it creates network namespaces and attaches XDP programs" >&2
	exit 1
fi

cleanup() {
	set +e
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	testnet_down
	rm -rf "$WORK"
	echo "== removed namespaces $CLI $SRV $UPS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { ip netns exec "$@"; }
. run/testnet.sh
say() { printf '\n== %s\n' "$*"; }

say "test network: $CLI ($TESTNET_CLI4, $TESTNET_CLI6) -- $SRV ($TESTNET_SRV4, $TESTNET_SRV6 | $TESTNET_SU4, $TESTNET_SU6) -- $UPS ($TESTNET_UPS4, $TESTNET_UPS6)"
testnet_up 2

cat >"$WORK/upstream.Corefile" <<EOC
example.org:53 {
    bind 198.18.1.2
    file $PWD/run/example.org.zone
}
EOC
sed "s#@ZONE@#$PWD/run/example.org.zone#" run/server.Corefile >"$WORK/server.Corefile"

say "upstream: $BIN with the file plugin in $UPS"
ip netns exec $UPS "$BIN" -conf "$WORK/upstream.Corefile" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
say "server: $BIN with afxdp on veth-s in $SRV"
cat "$WORK/server.Corefile"
ip netns exec $SRV "$BIN" -conf "$WORK/server.Corefile" > >(sed -u 's/^/   [coredns] /') 2>&1 &
PIDS+=($!)

metrics() { nsx $SRV curl -sf http://127.0.0.1:9153/metrics || true; }
for _ in $(seq 100); do metrics | grep -q coredns_afxdp_queues && break; sleep 0.1; done
if ! metrics | grep -q coredns_afxdp_queues; then
	echo "the afxdp server did not come up" >&2
	exit 1
fi

counters() {
	say "afxdp counters ($1)"
	metrics | grep -E '^coredns_afxdp_(xdp_redirected_total|rx_frames_total|tx_frames_total|hot_hits_total|xdp_passed_total\{.*(other_port|no_socket))|^coredns_dns_requests_total|^coredns_cache_(requests|hits)_total' | sed 's/^/   /'
}

# The XDP program asks the kernel's FIB how each reply is routed (one
# lookup per query, nothing kept per client), so even the client's very
# first query is answered through AF_XDP. That lookup needs loopback
# forwarding on; afxdp sets it at start (forwarding set, the default):
say "loopback forwarding in the server namespace (afxdp set it: the XDP route check looks routes up from lo; lo forwards nothing): $(nsx $SRV sysctl -n net.ipv4.conf.lo.forwarding) (IPv4), $(nsx $SRV sysctl -n net.ipv6.conf.lo.forwarding) (IPv6)"

# XDP runs before netfilter: with the kernel's UDP/53 input dropped on
# veth-s, every UDP answer below came through AF_XDP.
nsx $SRV nft add table inet afxdp-run '{ chain in { type filter hook input priority 0; iifname "veth-s" udp dport 53 counter drop; }; }'
say "nftables now drops UDP/53 input on veth-s. XDP runs before netfilter, so this rule, like any"
echo "   input rule on UDP/53, does not apply to queries afxdp answers: put such policy in the acl"
echo "   plugin. Here the rule proves that every UDP answer below came through AF_XDP."
sleep 0.3
counters before
DIG="dig +time=2 +tries=1"
say "IPv4: $DIG @198.18.0.1 www.example.org A"
nsx $CLI $DIG @198.18.0.1 www.example.org A +noall +answer +stats | grep -vE '^;; (WHEN|MSG)'
say "IPv6: $DIG @fd00::1 www.example.org AAAA"
nsx $CLI $DIG @fd00::1 www.example.org AAAA +noall +answer +stats | grep -vE '^;; (WHEN|MSG)'
say "the same name again, twice, without an EDNS cookie (dig sends one by default; queries with EDNS options always take the plugin chain)"
echo "   the first is a cache hit through the chain, which fills the hot table; the second is answered hot,"
echo "   in the receive loop without the chain: the same bytes, and CoreDNS's metrics count it all the same"
sleep 1
nsx $CLI $DIG +nocookie @198.18.0.1 www.example.org A +noall +answer
nsx $CLI $DIG +nocookie @198.18.0.1 www.example.org A +noall +answer
say "an answer too big for UDP: TC=1 through AF_XDP, then dig retries over TCP (kernel)"
nsx $CLI $DIG @198.18.0.1 big.example.org TXT +bufsize=1232 +noall +comments +stats | grep -E 'flags|SERVER'
sleep 0.3 # hot answers reach the metrics within 250 ms
counters after
say "the kernel saw $(nsx $SRV nft list chain inet afxdp-run in | grep -o 'packets [0-9]*') of UDP/53 on veth-s"

say "query it yourself (in another shell):"
echo "   sudo ip netns exec $CLI dig @198.18.0.1 www.example.org"
echo "   sudo ip netns exec $CLI dig @fd00::1 h42.example.org AAAA"
echo "   sudo ip netns exec $SRV curl -s 127.0.0.1:9153/metrics | grep afxdp"
if [ "$DURATION" -gt 0 ]; then
	say "serving for $DURATION s"
	sleep "$DURATION"
else
	say "serving until Ctrl-C"
	while :; do sleep 3600; done
fi
