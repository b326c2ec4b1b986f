//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// The afxdp XDP filter: picks plain UDP DNS queries for this host's served
// addresses and ports off an RX queue and redirects them to the AF_XDP socket
// bound to that queue. Everything else — and everything it cannot vouch for —
// goes to the kernel with XDP_PASS, where CoreDNS's normal listener answers it.
// Passing is always safe: the kernel path gives the same answer, only slower.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_QUEUES 256
#define MAX_SERVED 1024
#define MAX_PORTS 64
#define MAX_LOCAL 4096
#define MAX_ROUTES 65536
// A source whose route verdict was asked for but not given (user space busy,
// a full ring) is asked for again after this long.
#define ROUTE_ASK_AGAIN_NS 1000000000ULL

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

// What the program did with a frame. Every frame is counted exactly once.
enum counter {
	CNT_REDIRECT = 0,    // handed to the AF_XDP socket of its RX queue
	CNT_PASS_NOT_IP,     // not IPv4/IPv6 (ARP, LLDP, stacked VLAN tags, ...)
	CNT_PASS_NOT_UDP,    // IP, but not UDP (TCP/53 retries included)
	CNT_PASS_FRAGMENT,   // an IP fragment: only the kernel can reassemble
	CNT_PASS_IP_EXT,     // IPv6 with extension headers
	CNT_PASS_PORT,       // UDP to a port that is not served
	CNT_PASS_ADDR,       // served port, but not a served destination address
	CNT_PASS_NOT_QUERY,  // a response, opcode other than QUERY, odd section counts
	CNT_PASS_NO_SOCKET,  // no AF_XDP socket on this queue (starting, reloading, saturated)
	CNT_PASS_MALFORMED,  // truncated headers or length fields that lie
	CNT_PASS_MARTIAN,    // a source or frame the kernel's input checks drop
	CNT_PASS_RP_FILTER,  // the kernel's reverse-path check rejects the source
	CNT_PASS_ROUTE_PENDING, // the source's reverse path is not known yet
	CNT_MAX,
};

// Route verdicts for IPv4 sources, in the low byte of route_state.state.
enum route_verdict {
	ROUTE_PENDING = 0, // asked for, not answered yet
	ROUTE_OK = 1,      // the kernel's input route check accepts the source
	ROUTE_REJECT = 2,  // it does not: the kernel drops such queries
};

// Keeps the enums in BTF so bpf2go generates their Go constants.
const enum counter *unused_counter __attribute__((unused));
const enum route_verdict *unused_route_verdict __attribute__((unused));
const struct route_request *unused_route_request __attribute__((unused));

// What user space tells the program about the interface, so that it can
// mirror the kernel's input checks. One entry.
struct filter_config {
	__u8 mac[6];        // the interface's own MAC
	__u8 master_mac[6]; // its bridge's MAC on a bridge port, else zero
	__u32 rp_filter;    // IPv4 reverse-path check: 0 off, 1 strict, 2 loose
	__u32 route_gen;    // route verdicts of another generation are stale
};

// An IPv4 source's route verdict: (generation << 8) | verdict in one word,
// so a reader never sees the verdict of one generation with another's
// number; asked is when the program last asked user space.
struct route_state {
	__u64 state;
	__u64 asked;
};

// A request to user space: check the route of a query from src to dst.
struct route_request {
	__u32 src;
	__u32 dst;
	__u32 gen;
};

// Keys are in network byte order, as they stand in the packet.
struct served4_key {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

struct served6_key {
	__u8 addr[16];
	__u16 port;
	__u16 pad;
};

struct dnshdr {
	__u16 id;
	__u8 flags1; // QR(1) OPCODE(4) AA TC RD
	__u8 flags2;
	__u16 qdcount;
	__u16 ancount;
	__u16 nscount;
	__u16 arcount;
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// Value: flags, reserved (0 today) so per-listener behaviour can be added
// without changing the key layout.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVED);
	__type(key, struct served4_key);
	__type(value, __u32);
} served4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVED);
	__type(key, struct served6_key);
	__type(value, __u32);
} served6 SEC(".maps");

// Served ports (network byte order), so that "other port" is told apart from
// "other address" and non-DNS traffic costs one lookup.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u16);
	__type(value, __u32);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_config);
} config SEC(".maps");

// Every local address of the network namespace (and IPv4 directed
// broadcasts): the kernel drops queries that claim to come from one.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_LOCAL);
	__type(key, __u32);
	__type(value, __u8);
} local4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_LOCAL);
	__type(key, struct in6_addr);
	__type(value, __u8);
} local6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_ROUTES);
	__type(key, __u32);
	__type(value, struct route_state);
} routes4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} route_requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline int count(enum counter c, int verdict)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1;
	return verdict;
}

static __always_inline struct filter_config *get_config(void)
{
	__u32 key = 0;
	return bpf_map_lookup_elem(&config, &key);
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

// The kernel drops a frame for another host's MAC (PACKET_OTHERHOST), which
// reaches XDP when the interface is promiscuous. Broadcast and multicast
// frames it takes.
static __always_inline int for_us(const struct ethhdr *eth, const struct filter_config *cfg)
{
	__u8 dst[6];

	__builtin_memcpy(dst, eth->h_dest, sizeof(dst));
	if (dst[0] & 1)
		return 1;
	if (mac_eq(dst, cfg->mac))
		return 1;
	__u8 zero[6] = {};
	return !mac_eq(cfg->master_mac, zero) && mac_eq(dst, cfg->master_mac);
}

// Sources ip_route_input_slow refuses (zeronet, loopback, multicast, limited
// broadcast), class E with them, and any local address (fib_validate_source
// rejects a source that is local or a directed broadcast). sport 0 cannot
// be answered by a socket.
static __always_inline int martian4_addr(__u32 addr)
{
	__u8 top = bpf_ntohl(addr) >> 24;

	return top == 0 || top == 127 || top >= 224;
}

// A served destination can be one the kernel refuses to take off the wire
// too (a block bound to 127.0.0.1): martian_destination.
static __always_inline int martian4(__u32 saddr, __u32 daddr, __u16 sport)
{
	if (martian4_addr(saddr) || martian4_addr(daddr) || sport == 0)
		return 1;
	return bpf_map_lookup_elem(&local4, &saddr) != NULL;
}

// ip6_rcv_core drops multicast, loopback and v4-mapped sources (and
// loopback and v4-mapped destinations); the unspecified address and port 0
// cannot be answered; local sources are refused as for IPv4.
static __always_inline int martian6_addr(const struct in6_addr *a)
{
	__u32 w0 = a->in6_u.u6_addr32[0], w1 = a->in6_u.u6_addr32[1];
	__u32 w2 = a->in6_u.u6_addr32[2], w3 = a->in6_u.u6_addr32[3];

	if (a->in6_u.u6_addr8[0] == 0xff)
		return 1;
	if (w0 == 0 && w1 == 0) {
		if (w2 == 0 && (w3 == 0 || w3 == bpf_htonl(1)))
			return 1;
		if (w2 == bpf_htonl(0xffff))
			return 1;
	}
	return 0;
}

static __always_inline int martian6(const struct in6_addr *saddr, const struct in6_addr *daddr, __u16 sport)
{
	if (sport == 0 || martian6_addr(saddr) || martian6_addr(daddr))
		return 1;
	return bpf_map_lookup_elem(&local6, saddr) != NULL;
}

// route_check4 answers with the kernel's own reverse-path verdict for an
// IPv4 source, which user space asks the kernel for (an input route lookup
// with the ingress interface) and caches here. An unknown source goes to
// the kernel, which checks it itself, while user space finds out.
static __always_inline int route_check4(__u32 saddr, __u32 daddr, const struct filter_config *cfg)
{
	if (cfg->rp_filter == 0)
		return CNT_REDIRECT;

	__u32 gen = cfg->route_gen;
	struct route_state *st = bpf_map_lookup_elem(&routes4, &saddr);
	__u64 state = st ? st->state : 0; // read once: one word, one generation
	int known = st && (__u32)(state >> 8) == gen;
	if (known) {
		__u8 verdict = state & 0xff;
		if (verdict == ROUTE_OK)
			return CNT_REDIRECT;
		if (verdict == ROUTE_REJECT)
			return CNT_PASS_RP_FILTER;
	}
	// Unknown, or asked about and not answered yet: the clock only here.
	__u64 now = bpf_ktime_get_ns();
	if (known && now - st->asked < ROUTE_ASK_AGAIN_NS)
		return CNT_PASS_ROUTE_PENDING;
	struct route_state pending = { .state = (__u64)gen << 8 | ROUTE_PENDING, .asked = now };
	bpf_map_update_elem(&routes4, &saddr, &pending, BPF_ANY);
	struct route_request *req = bpf_ringbuf_reserve(&route_requests, sizeof(*req), 0);
	if (req) {
		req->src = saddr;
		req->dst = daddr;
		req->gen = gen;
		bpf_ringbuf_submit(req, 0);
	}
	return CNT_PASS_ROUTE_PENDING;
}

// Mirrors miekg/dns's default accept policy for a QUERY. Anything it would
// reject, ignore or hand to a non-default opcode handler goes to the kernel
// listener, so that answer is exactly the kernel path's.
static __always_inline int is_plain_query(const struct dnshdr *dns)
{
	if (dns->flags1 & 0x80) // QR: a response
		return 0;
	if ((dns->flags1 >> 3) & 0x0f) // OPCODE != QUERY
		return 0;
	return dns->qdcount == bpf_htons(1) && bpf_ntohs(dns->ancount) <= 1 &&
	       bpf_ntohs(dns->nscount) <= 1 && bpf_ntohs(dns->arcount) <= 2;
}

// Checks the UDP header and the DNS header behind it. ip_payload_end is where
// the IP header says the datagram ends (the frame may be longer: padding).
static __always_inline int check_udp(struct udphdr *udp, void *ip_payload_end,
				     void *data_end)
{
	if ((void *)(udp + 1) > data_end)
		return CNT_PASS_MALFORMED;

	__u16 ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp) || (void *)udp + ulen > ip_payload_end)
		return CNT_PASS_MALFORMED;

	if (!bpf_map_lookup_elem(&ports, &udp->dest))
		return CNT_PASS_PORT;

	struct dnshdr *dns = (void *)(udp + 1);
	if ((void *)(dns + 1) > data_end || ulen < sizeof(*udp) + sizeof(*dns))
		return CNT_PASS_MALFORMED;
	if (!is_plain_query(dns))
		return CNT_PASS_NOT_QUERY;
	return CNT_REDIRECT;
}

static __always_inline int parse_ipv4(const struct ethhdr *eth, void *l3, void *data_end)
{
	struct iphdr *ip = l3;

	if ((void *)(ip + 1) > data_end)
		return CNT_PASS_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return CNT_PASS_MALFORMED;

	__u32 hlen = ip->ihl * 4;
	__u16 tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || l3 + tot > data_end)
		return CNT_PASS_MALFORMED;
	if (ip->protocol != IPPROTO_UDP)
		return CNT_PASS_NOT_UDP;
	if (ip->frag_off & bpf_htons(0x3fff)) // MF or an offset
		return CNT_PASS_FRAGMENT;

	int c = check_udp(l3 + hlen, l3 + tot, data_end);
	if (c != CNT_REDIRECT)
		return c;

	struct udphdr *udp = l3 + hlen;
	if ((void *)(udp + 1) > data_end) // re-proven for the verifier
		return CNT_PASS_MALFORMED;
	struct served4_key key = { .addr = ip->daddr, .port = udp->dest };
	if (!bpf_map_lookup_elem(&served4, &key))
		return CNT_PASS_ADDR;

	// In the kernel's order: martians, then the route back.
	struct filter_config *cfg = get_config();
	if (!cfg || martian4(ip->saddr, ip->daddr, udp->source) || !for_us(eth, cfg))
		return CNT_PASS_MARTIAN;
	return route_check4(ip->saddr, ip->daddr, cfg);
}

static __always_inline int is_ipv6_ext(__u8 nh)
{
	switch (nh) {
	case 0:   // hop-by-hop
	case 43:  // routing
	case 50:  // ESP
	case 51:  // AH
	case 60:  // destination options
	case 135: // mobility
	case 139: // HIP
	case 140: // shim6
	case 253:
	case 254:
		return 1;
	}
	return 0;
}

static __always_inline int parse_ipv6(const struct ethhdr *eth, void *l3, void *data_end)
{
	struct ipv6hdr *ip6 = l3;

	if ((void *)(ip6 + 1) > data_end)
		return CNT_PASS_MALFORMED;
	if (ip6->version != 6)
		return CNT_PASS_MALFORMED;

	void *payload_end = (void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len);
	if (payload_end > data_end)
		return CNT_PASS_MALFORMED;
	if (ip6->nexthdr == 44)
		return CNT_PASS_FRAGMENT;
	if (is_ipv6_ext(ip6->nexthdr))
		return CNT_PASS_IP_EXT;
	if (ip6->nexthdr != IPPROTO_UDP)
		return CNT_PASS_NOT_UDP;

	struct udphdr *udp = (void *)(ip6 + 1);
	int c = check_udp(udp, payload_end, data_end);
	if (c != CNT_REDIRECT)
		return c;
	if ((void *)(udp + 1) > data_end)
		return CNT_PASS_MALFORMED;

	struct served6_key key = { .port = udp->dest };
	__builtin_memcpy(key.addr, &ip6->daddr, sizeof(key.addr));
	if (!bpf_map_lookup_elem(&served6, &key))
		return CNT_PASS_ADDR;

	// IPv6 has no reverse-path filter.
	struct filter_config *cfg = get_config();
	if (!cfg || martian6(&ip6->saddr, &ip6->daddr, udp->source) || !for_us(eth, cfg))
		return CNT_PASS_MARTIAN;
	return CNT_REDIRECT;
}

// classify decides what a frame is; the caller turns that into a verdict.
static __always_inline int classify(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return CNT_PASS_MALFORMED;

	void *l3 = eth + 1;
	__u16 proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		// One tag: the reply is sent with the same tag. Stacked tags go
		// to the kernel.
		if (l3 + 4 > data_end)
			return CNT_PASS_MALFORMED;
		proto = *(__u16 *)(l3 + 2);
		l3 += 4;
	}

	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(eth, l3, data_end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(eth, l3, data_end);
	return CNT_PASS_NOT_IP;
}

SEC("xdp")
int xdp_dns(struct xdp_md *ctx)
{
	int c = classify(ctx);
	if (c != CNT_REDIRECT)
		return count(c, XDP_PASS);

	__u32 queue = ctx->rx_queue_index;
	if (!bpf_map_lookup_elem(&xsks, &queue))
		return count(CNT_PASS_NO_SOCKET, XDP_PASS);

	// The entry can vanish between lookup and redirect (a socket being
	// closed); the fallback action then is XDP_PASS, counted as such.
	int act = bpf_redirect_map(&xsks, queue, XDP_PASS);
	return count(act == XDP_REDIRECT ? CNT_REDIRECT : CNT_PASS_NO_SOCKET, act);
}

char _license[] SEC("license") = "Dual BSD/GPL";
