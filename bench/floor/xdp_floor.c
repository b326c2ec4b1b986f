//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// The benchmark's floor: the least an XDP program can do to answer a DNS
// query. A UDP frame to port 53 whose DNS header says query (QR=0) goes back
// out of the interface it came in on (XDP_TX) with its MACs, IP addresses
// and UDP ports swapped and QR set: the query echoed as an empty response,
// which xdpgen and dnsload count as a reply. IPv4 (options allowed, no
// fragments) and IPv6 (UDP as the next header, no extension headers), with
// at most one 802.1Q tag. No maps, no lookups, no DNS parsing beyond the QR
// bit; everything else is XDP_PASS (ARP and neighbour discovery keep
// working). No replying system can do less per answer on this testbed.
// xdp_pass, at the end, is for the client's side.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define DNS_PORT 53
#define DNS_HEADER_LEN 12
#define DNS_QR 0x80 // in the third byte of the header

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

// query says whether udp heads a DNS query to port 53: its UDP header and
// the DNS header are in the frame, and QR is clear.
static __always_inline int query(struct udphdr *udp, void *end)
{
	if ((void *)(udp + 1) > end || udp->dest != bpf_htons(DNS_PORT))
		return 0;
	__u8 *dns = (void *)(udp + 1);
	return (void *)(dns + DNS_HEADER_LEN) <= end && !(dns[2] & DNS_QR);
}

// answer turns the checked query into its reply once the IP addresses are
// swapped: MACs and ports swapped, QR set, the UDP checksum updated.
static __always_inline int answer(struct ethhdr *eth, struct udphdr *udp, void *end, int v4)
{
	__u8 mac[ETH_ALEN];
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);

	__be16 port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;

	// Setting QR changes the header's second word (flags): update the UDP
	// checksum incrementally, RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). The
	// words are read and written as they are in the frame; one's complement
	// sums do not depend on the byte order as long as it is the same for all.
	// An IPv4 checksum of zero means none and stays zero; a computed zero is
	// sent as 0xffff (the same value in one's complement; IPv6 forbids 0).
	__u16 *flags = (void *)(udp + 1) + 2;
	if ((void *)(flags + 1) > end) // checked by query; for the verifier
		return XDP_PASS;
	__u16 old = *flags;
	__u16 new = old | bpf_htons(DNS_QR << 8);
	*flags = new;
	if (!v4 || udp->check) {
		__u32 sum = (__u16)~udp->check + (__u32)(__u16)~old + new;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		__u16 check = ~sum;
		udp->check = check ? check : 0xffff;
	}
	return XDP_TX;
}

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3;
	__be16 proto;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_tag *tag = l3;
		if ((void *)(tag + 1) > end)
			return XDP_PASS;
		proto = tag->proto;
		l3 = tag + 1;
	}

	// Swapping addresses (and ports) moves 16-bit words within the sums:
	// the IPv4 header checksum and the UDP checksum stay as they are.
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		if (ip->ihl < 5 || ip->protocol != IPPROTO_UDP)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x3fff)) // MF or an offset: a fragment
			return XDP_PASS;
		struct udphdr *udp = l3 + ip->ihl * 4;
		if (!query(udp, end))
			return XDP_PASS;
		__be32 a = ip->saddr;
		ip->saddr = ip->daddr;
		ip->daddr = a;
		return answer(eth, udp, end, 1);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		if (ip6->nexthdr != IPPROTO_UDP)
			return XDP_PASS;
		struct udphdr *udp = (void *)(ip6 + 1);
		if (!query(udp, end))
			return XDP_PASS;
		struct in6_addr a = ip6->saddr;
		ip6->saddr = ip6->daddr;
		ip6->daddr = a;
		return answer(eth, udp, end, 0);
	}
	return XDP_PASS;
}

// sunk counts the frames xdp_sink dropped (one slot; the sink runs on one
// CPU, and an atomic add keeps the count whole if it does not).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sunk SEC(".maps");

// xdp_sink drops every frame but ARP and IPv6 (neighbour discovery), and
// counts them: the benchmark's measure of what its load generator can put
// through veth into the server's core when nothing answers (floor -sink).
SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&sunk, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_DROP;
}

// The client's side of a veth pair gets this one while an XDP_TX system is
// measured: veth hands XDP_TX frames to its peer's ring, but schedules the
// peer's NAPI only when the peer has an XDP program; without one, the frames
// wait until other traffic arrives (GRO alone gives the peer NAPI, not the
// kick).
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
