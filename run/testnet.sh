# Sourced by run/run.sh and bench/bench.sh: the three-namespace test network
#   $CLI (veth-c 198.18.0.2, fd00::2) -- $SRV (veth-s 198.18.0.1, fd00::1;
#   veth-su 198.18.1.1) -- $UPS (veth-u 198.18.1.2)
# testnet_up QUEUES makes it (removing leftovers of a run killed hard);
# testnet_down removes it. CLI, SRV and UPS name the namespaces.

testnet_down() {
	for ns in $CLI $SRV $UPS; do ip netns del "$ns" 2>/dev/null || true; done
}

testnet_up() {
	local q=$1 pair ns dev
	testnet_down
	for ns in $CLI $SRV $UPS; do ip netns add "$ns"; ip netns exec "$ns" ip link set lo up; done
	ip link add veth-c netns $CLI numtxqueues $q numrxqueues $q type veth peer name veth-s netns $SRV numtxqueues $q numrxqueues $q
	ip link add veth-su netns $SRV type veth peer name veth-u netns $UPS
	for pair in $CLI:veth-c $SRV:veth-s $SRV:veth-su $UPS:veth-u; do
		ns=${pair%%:*} dev=${pair##*:}
		# Checksums in full (as off a wire); GRO on, so veth takes frames
		# sent from AF_XDP on the peer.
		ip netns exec "$ns" ethtool -K "$dev" tx off tso off gro on >/dev/null 2>&1
		ip netns exec "$ns" ip link set "$dev" up
	done
	ip netns exec $CLI ip addr add 198.18.0.2/24 dev veth-c
	ip netns exec $CLI ip addr add fd00::2/64 dev veth-c nodad
	ip netns exec $SRV ip addr add 198.18.0.1/24 dev veth-s
	ip netns exec $SRV ip addr add fd00::1/64 dev veth-s nodad
	ip netns exec $SRV ip addr add 198.18.1.1/24 dev veth-su
	ip netns exec $UPS ip addr add 198.18.1.2/24 dev veth-u
}
