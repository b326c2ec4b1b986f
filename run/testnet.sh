# The test network, its one definition: sourced by run/run.sh and
# bench/bench.sh, and run by the Go tests through internal/netns (which give
# it namespaces with random names of their own).
#
#   $CLI veth-c ==== veth-s $SRV veth-su ---- veth-u $UPS
#        (QUEUES queues)              (one queue)
#
# CLI, SRV and UPS name the namespaces; without UPS there is no upstream.
#   testnet_up QUEUES    makes the namespaces and the network in them,
#                        removing leftovers of a run killed hard first
#   testnet_down         removes the namespaces (their links go with them)
#   testnet_links QUEUES the links and addresses, in namespaces that exist
#   testnet_veth NS_A A NS_B B QUEUES   one veth pair, both ends up, with
#                        TESTNET_ETHTOOL on both
#   testnet_addr NS DEV CIDR...         addresses; IPv6 ones without DAD
# Everything fails loudly under set -e.

# Go reads these lines (internal/netns): keep them NAME=VALUE, no quotes.
# Only 198.18.0.0/15 and fd00::/8, and a test checks that.
TESTNET_CLI4=198.18.0.2/24 # veth-c
TESTNET_CLI6=fd00::2/64
TESTNET_SRV4=198.18.0.1/24 # veth-s
TESTNET_SRV6=fd00::1/64
TESTNET_SU4=198.18.1.1/24 # veth-su, the server's end of the upstream link
TESTNET_SU6=fd00:1::1/64
TESTNET_UPS4=198.18.1.2/24 # veth-u
TESTNET_UPS6=fd00:1::2/64
# Checksums in full (as off a wire); GRO on, so veth takes frames sent from
# AF_XDP on the peer (it accepts them only when the receiving end runs NAPI).
TESTNET_ETHTOOL="tx off tso off gro on"

testnet_down() {
	local ns
	for ns in $CLI $SRV ${UPS:-}; do ip netns del "$ns" 2>/dev/null || true; done
}

testnet_up() {
	local ns
	testnet_down
	for ns in $CLI $SRV ${UPS:-}; do ip netns add "$ns"; ip netns exec "$ns" ip link set lo up; done
	testnet_links "$1"
}

testnet_links() {
	# rp_filter off, the kernel's default, whatever the host's (a new
	# namespace copies the host's IPv4 defaults), so that every test network
	# starts alike. afxdp answers in place only replies routed out of the
	# ingress device, which strict rp_filter requires too;
	# test/e2e/martian_test.go turns it on.
	ip netns exec "$SRV" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	testnet_veth "$CLI" veth-c "$SRV" veth-s "$1"
	testnet_addr "$CLI" veth-c $TESTNET_CLI4 $TESTNET_CLI6
	testnet_addr "$SRV" veth-s $TESTNET_SRV4 $TESTNET_SRV6
	[ -n "${UPS:-}" ] || return 0
	testnet_veth "$SRV" veth-su "$UPS" veth-u 1
	testnet_addr "$SRV" veth-su $TESTNET_SU4 $TESTNET_SU6
	testnet_addr "$UPS" veth-u $TESTNET_UPS4 $TESTNET_UPS6
}

testnet_veth() {
	local q=$5
	ip link add "$2" netns "$1" numtxqueues "$q" numrxqueues "$q" \
		type veth peer name "$4" netns "$3" numtxqueues "$q" numrxqueues "$q"
	# ethtool lists what it changed on stdout.
	ip netns exec "$1" ethtool -K "$2" $TESTNET_ETHTOOL >/dev/null
	ip netns exec "$3" ethtool -K "$4" $TESTNET_ETHTOOL >/dev/null
	ip netns exec "$1" ip link set "$2" up
	ip netns exec "$3" ip link set "$4" up
}

testnet_addr() {
	local ns=$1 dev=$2 a
	shift 2
	for a; do
		case $a in
		*:*) ip netns exec "$ns" ip addr add "$a" dev "$dev" nodad ;;
		*) ip netns exec "$ns" ip addr add "$a" dev "$dev" ;;
		esac
	done
}
