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

// Hot answers: the longest name the program keys (wire octets, root label
// included), the most record bytes an entry holds, the largest DNS reply
// it writes (512: within every client's buffer and every size rule, so it
// is never one the chain would truncate or compress), entries per map and
// hit-counter slots (two per entry: query without and with OPT).
#define HOT_NAME_MAX 64
#define HOT_RRS_MAX 480
#define HOT_REPLY_MAX 512
#define HOT_ENTRIES 32768
#define HOT_SLOTS (2 * HOT_ENTRIES)
#define HOT_DO 1
#define HOT_CD 2
#define HOT_V6 4

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
	CNT_PASS_ROUTE_PENDING, // the source's route is not known yet
	CNT_PASS_ROUTED_ELSEWHERE, // the reply would leave by another device, or there is no route
	CNT_HOT_ANSWER,      // answered from the hot map in place (XDP_TX)
	CNT_MAX,
};

// Route verdicts for a source, in the low byte of route_state.state.
enum route_verdict {
	ROUTE_PENDING = 0,   // asked for, not answered yet
	ROUTE_OK = 1,        // the reply's route leaves by the delivering device, to the query's source MAC
	ROUTE_REJECT = 2,    // the kernel's input check (rp_filter) refuses the source
	ROUTE_OK_VIA = 3,    // the same device, another next hop: reply to route_state.next_hop
	ROUTE_ELSEWHERE = 4, // another device, or no route: the kernel sends the reply
};

// Keeps the enums in BTF so bpf2go generates their Go constants.
const enum counter *unused_counter __attribute__((unused));
const enum route_verdict *unused_route_verdict __attribute__((unused));
const struct route_request *unused_route_request __attribute__((unused));
const struct route_key4 *unused_route_key4 __attribute__((unused));
const struct route_key6 *unused_route_key6 __attribute__((unused));
const struct hot_key *unused_hot_key __attribute__((unused));
const struct hot_value *unused_hot_value __attribute__((unused));

// What user space tells the program about the interface, so that it can
// mirror the kernel's input checks. One entry.
struct filter_config {
	__u8 mac[6];        // the interface's own MAC
	__u8 master_mac[6]; // its bridge's MAC on a bridge port, else zero
	__u32 rp_filter;    // the kernel's rp_filter the verdicts were found under (a record: not read here)
	__u32 route_gen;    // route verdicts of another generation are stale
};

// A source's route verdict: (generation << 8) | verdict in one word, so a
// reader never sees the verdict of one generation with another's number;
// asked is when the program last asked user space. For ROUTE_OK and
// ROUTE_OK_VIA the two MACs are the reply's: the datapath swaps the query's
// Ethernet addresses, so they are written into the query crosswise.
struct route_state {
	__u64 state;
	__u64 asked;
	__u8 next_hop[6]; // the reply's destination: the route's next hop
	__u8 own[6];      // the reply's source: the delivering device's MAC
	__u32 pad;
};

// The verdict depends on the device the kernel delivers to, so the VLAN tag
// is part of the key: its VID, bit 15 set for an 802.1ad tag, 0 untagged.
struct route_key4 {
	__u32 addr;
	__u16 vlan;
	__u16 pad;
};

struct route_key6 {
	__u8 addr[16];
	__u16 vlan;
	__u16 pad;
};

// A request to user space: check the route of a query from src to dst
// (IPv4 in the first 4 bytes) that arrived with this VLAN tag from mac.
struct route_request {
	__u8 src[16];
	__u8 dst[16];
	__u32 gen;
	__u16 vlan;
	__u8 family; // 4 or 6
	__u8 pad;
	__u8 mac[6];
	__u16 pad2;
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

// A hot entry's key: the user-space table's. listener is the served map's
// value for the query's destination address and port; the name, as the
// query has it but lowercased, is keyed by its length and hash (hot.h's
// hot_name) and compared with the value's copy: a 16-byte key costs the
// map's jhash and key compare far less than the name would. Two names of
// one hash cannot both be in a map; the receive loop answers the one left
// out. qtype is as in the packet; the class is always IN (others are not
// keyed).
struct hot_key {
	__u32 listener;
	__u16 qtype;
	__u8 flags;    // HOT_DO, HOT_CD, HOT_V6 (the client's family)
	__u8 name_len; // wire octets, root label included
	__u64 name_hash;
};

// What a hit writes after the client's question. User space writes whole
// maps and never changes one the program can see (see hot_maps), so the
// program reads a value that is complete and unchanging. The records'
// TTLs are already what they should read until expires; the program does
// no TTL arithmetic and serves nothing at or past expires.
struct hot_value {
	__u64 expires;  // CLOCK_MONOTONIC ns from which it is not served, less one tick (see hot.h)
	__u32 slot;     // index of its hit counters in hot_hits (and slot+1 for queries with OPT)
	__u16 rrs_len;  // bytes of rrs in use, 1..HOT_RRS_MAX
	__u16 rrs_sum;  // one's-complement sum of rrs as 16-bit words from an even offset, folded
	__u8 flags2;    // the reply's AA bit (0x04); QR, opcode and RD are the program's
	__u8 flags3;    // RA (0x80) and RCODE; AD and CD are the program's
	__u8 ad;        // the stored AD bit (0x20): shown only to a client that sent DO or AD
	__u8 ad_known;  // the entry knows its AD bit (its filling query had DO or AD)
	__u16 an, ns, ex; // record counts, network order (ex without the OPT)
	__u16 pad;
	__u64 name[HOT_NAME_MAX / 8]; // the lowercased wire name, little-endian words, zero after it
	__u8 rrs[HOT_RRS_MAX];
};

struct hot_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, HOT_ENTRIES);
	__type(key, struct hot_key);
	__type(value, struct hot_value);
};

// The live hot map in slot 0. User space fills a new map and swaps it in
// whole; the kernel waits for running programs before the swap returns,
// so an old map is never read again once it is replaced.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct hot_map);
} hot_maps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HOT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hot_hits SEC(".maps");

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
	__type(key, struct route_key4);
	__type(value, struct route_state);
} routes4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_ROUTES);
	__type(key, struct route_key6);
	__type(value, struct route_state);
} routes6 SEC(".maps");

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
// rejects a source that is local or a directed broadcast: is_local, checked
// with the route). sport 0 cannot be answered by a socket.
static __always_inline int martian4_addr(__u32 addr)
{
	__u8 top = bpf_ntohl(addr) >> 24;

	return top == 0 || top == 127 || top >= 224;
}

// A served destination can be one the kernel refuses to take off the wire
// too (a block bound to 127.0.0.1): martian_destination.
static __always_inline int martian4(__u32 saddr, __u32 daddr, __u16 sport)
{
	return martian4_addr(saddr) || martian4_addr(daddr) || sport == 0;
}

// ip6_rcv_core drops multicast, loopback and v4-mapped sources (and
// loopback and v4-mapped destinations); the unspecified address and port 0
// cannot be answered; local sources are refused as for IPv4 (is_local).
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
	return sport == 0 || martian6_addr(saddr) || martian6_addr(daddr);
}

// is_local says whether a source is one of the namespace's own addresses,
// which the kernel refuses. The route check asks only for sources without
// an answer-in-place verdict of this generation: user space never gives one
// to a local source, and adding a local address starts a new generation
// (SetLocalAddrs), so the one lookup of a known source is its route's.
static __always_inline int is_local(void *map, const void *saddr)
{
	return bpf_map_lookup_elem(map, saddr) != NULL;
}

// The reply's MACs when it may be sent in place (route_state's order).
struct reply_macs {
	__u8 next_hop[6];
	__u8 own[6];
};

// Where a query that may be answered in place stands in its frame, and
// which listener it is for (the served map's value).
struct pkt_info {
	__u32 listener;
	__u32 tagged; // one VLAN tag: the IP header at 18, not 14
	__u32 v6;
};

// route_decide turns a source's cached verdict into what to do with its
// query, copying the reply's MACs out for an answer in place. A verdict of
// an older generation (routes, addresses or links changed since) still
// decides while user space is asked again, as the kernel sends to a STALE
// neighbour while it re-confirms it: a change costs no detour through the
// kernel for every source. fresh says the verdict is of this generation;
// ask says user space must be asked now (at most once per
// ROUTE_ASK_AGAIN_NS, which also covers a question that was lost).
static __always_inline int route_decide(struct route_state *st, __u32 gen, struct reply_macs *macs,
					int *fresh, int *ask)
{
	if (!st) {
		*ask = 1;
		return CNT_PASS_ROUTE_PENDING;
	}
	__u64 state = st->state; // read once: one word, one generation
	__u8 verdict = state & 0xff;
	*fresh = (__u32)(state >> 8) == gen;
	if (!*fresh || verdict == ROUTE_PENDING) {
		// The clock only here, off the path of known sources.
		__u64 now = bpf_ktime_get_ns();
		if (now - st->asked >= ROUTE_ASK_AGAIN_NS) {
			st->asked = now; // in place: other CPUs may ask too, harmlessly
			*ask = 1;
		}
	}
	switch (verdict) {
	case ROUTE_OK:
	case ROUTE_OK_VIA:
		__builtin_memcpy(macs, st->next_hop, sizeof(*macs));
		return CNT_REDIRECT;
	case ROUTE_REJECT:
		return CNT_PASS_RP_FILTER;
	case ROUTE_ELSEWHERE:
		return CNT_PASS_ROUTED_ELSEWHERE;
	}
	return CNT_PASS_ROUTE_PENDING;
}

static __always_inline struct route_state route_pending(__u32 gen)
{
	struct route_state st = { .state = (__u64)gen << 8 | ROUTE_PENDING, .asked = bpf_ktime_get_ns() };
	return st;
}

// route_ask asks user space about a source; a full ring loses the question,
// which is asked again after ROUTE_ASK_AGAIN_NS.
static __always_inline void route_ask(__u8 family, const void *src, const void *dst, __u32 len,
				      __u16 vlan, __u32 gen, const struct ethhdr *eth)
{
	struct route_request *req = bpf_ringbuf_reserve(&route_requests, sizeof(*req), 0);
	if (!req)
		return;
	__builtin_memset(req, 0, sizeof(*req));
	if (len == 4) {
		__builtin_memcpy(req->src, src, 4);
		__builtin_memcpy(req->dst, dst, 4);
	} else {
		__builtin_memcpy(req->src, src, 16);
		__builtin_memcpy(req->dst, dst, 16);
	}
	req->gen = gen;
	req->vlan = vlan;
	req->family = family;
	__builtin_memcpy(req->mac, eth->h_source, sizeof(req->mac));
	bpf_ringbuf_submit(req, 0);
}

// route_check answers with the verdict user space found for a source on
// the device the kernel delivers to: for IPv4 the kernel's own input check
// (rp_filter), for both families the output route of the reply with its
// next hop's MAC. An unknown source goes to the kernel, which answers it
// itself, while user space finds out. Martians are never asked about. The
// family's maps and key come in as arguments: inlined, they are constants.
static __always_inline int route_check(void *routes, const void *key, void *local, __u8 family,
				       const void *saddr, const void *daddr, __u32 alen,
				       const struct ethhdr *eth, __u16 vlan,
				       const struct filter_config *cfg, struct reply_macs *macs)
{
	__u32 gen = cfg->route_gen;
	struct route_state *st = bpf_map_lookup_elem(routes, key);
	int fresh = 0, ask = 0;
	int c = route_decide(st, gen, macs, &fresh, &ask);
	if (!(c == CNT_REDIRECT && fresh) && is_local(local, saddr))
		return CNT_PASS_MARTIAN;
	if (!ask)
		return c;
	if (!st) {
		struct route_state pending = route_pending(gen);
		bpf_map_update_elem(routes, key, &pending, BPF_ANY);
	}
	route_ask(family, saddr, daddr, alen, vlan, gen, eth);
	return c;
}

static __always_inline int route_check4(const struct ethhdr *eth, __u16 vlan, __u32 saddr, __u32 daddr,
					const struct filter_config *cfg, struct reply_macs *macs)
{
	struct route_key4 key = { .addr = saddr, .vlan = vlan };
	return route_check(&routes4, &key, &local4, 4, &saddr, &daddr, 4, eth, vlan, cfg, macs);
}

static __always_inline int route_check6(const struct ethhdr *eth, __u16 vlan, const struct in6_addr *saddr,
					const struct in6_addr *daddr, const struct filter_config *cfg,
					struct reply_macs *macs)
{
	struct route_key6 key = { .vlan = vlan };
	__builtin_memcpy(key.addr, saddr, sizeof(key.addr));
	return route_check(&routes6, &key, &local6, 6, saddr, daddr, 16, eth, vlan, cfg, macs);
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

static __always_inline int parse_ipv4(const struct ethhdr *eth, __u16 vlan, void *l3, void *data_end,
				      struct reply_macs *macs, struct pkt_info *info)
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
	__u32 *listener = bpf_map_lookup_elem(&served4, &key);
	if (!listener)
		return CNT_PASS_ADDR;
	info->listener = *listener;

	// In the kernel's order: martians (local sources with the route), then
	// the route back.
	struct filter_config *cfg = get_config();
	if (!cfg || martian4(ip->saddr, ip->daddr, udp->source) || !for_us(eth, cfg))
		return CNT_PASS_MARTIAN;
	return route_check4(eth, vlan, ip->saddr, ip->daddr, cfg, macs);
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

static __always_inline int parse_ipv6(const struct ethhdr *eth, __u16 vlan, void *l3, void *data_end,
				      struct reply_macs *macs, struct pkt_info *info)
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
	__u32 *listener = bpf_map_lookup_elem(&served6, &key);
	if (!listener)
		return CNT_PASS_ADDR;
	info->listener = *listener;
	info->v6 = 1;

	struct filter_config *cfg = get_config();
	if (!cfg || martian6(&ip6->saddr, &ip6->daddr, udp->source) || !for_us(eth, cfg))
		return CNT_PASS_MARTIAN;
	return route_check6(eth, vlan, &ip6->saddr, &ip6->daddr, cfg, macs);
}

// classify decides what a frame is; the caller turns that into a verdict.
// For a query to answer in place, macs are the reply's.
static __always_inline int classify(struct xdp_md *ctx, struct reply_macs *macs, struct pkt_info *info)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return CNT_PASS_MALFORMED;

	void *l3 = eth + 1;
	__u16 proto = eth->h_proto;
	__u16 vlan = 0;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		// One tag: the reply is sent with the same tag. Stacked tags go
		// to the kernel. The tag picks the device the kernel delivers
		// to, so it is part of the route key.
		if (l3 + 4 > data_end)
			return CNT_PASS_MALFORMED;
		vlan = bpf_ntohs(*(__u16 *)l3) & 0x0fff;
		if (proto == bpf_htons(ETH_P_8021AD))
			vlan |= 0x8000;
		proto = *(__u16 *)(l3 + 2);
		l3 += 4;
	}

	info->tagged = vlan || proto != eth->h_proto;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(eth, vlan, l3, data_end, macs, info);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(eth, vlan, l3, data_end, macs, info);
	return CNT_PASS_NOT_IP;
}

// redirect hands the frame to the queue's socket with the reply's MACs
// written in crosswise: the datapath swaps the query's Ethernet addresses,
// so the reply goes to the route's next hop from the delivering device's
// own MAC (never from a broadcast or multicast one). A frame that goes to
// the kernel after all leaves as it came.
static __always_inline int redirect(struct xdp_md *ctx, __u32 queue, const struct reply_macs *macs)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end) // re-proven for the verifier
		return count(CNT_PASS_MALFORMED, XDP_PASS);
	__u8 orig[12];
	__builtin_memcpy(orig, eth, sizeof(orig));
	__builtin_memcpy(eth->h_dest, macs->own, ETH_ALEN);
	__builtin_memcpy(eth->h_source, macs->next_hop, ETH_ALEN);

	// The entry can vanish between lookup and redirect (a socket being
	// closed); the fallback action then is XDP_PASS, counted as such.
	int act = bpf_redirect_map(&xsks, queue, XDP_PASS);
	if (act == XDP_REDIRECT)
		return count(CNT_REDIRECT, act);
	__builtin_memcpy(eth, orig, sizeof(orig));
	return count(CNT_PASS_NO_SOCKET, act);
}

#include "hot.h"

// filter is the program; bench_test.c wraps it too.
static __always_inline int filter(struct xdp_md *ctx)
{
	struct reply_macs macs = {};
	struct pkt_info info = {};
	int c = classify(ctx, &macs, &info);
	if (c != CNT_REDIRECT)
		return count(c, XDP_PASS);

	switch (hot_answer(ctx, &info, &macs)) {
	case HOT_SENT:
		return count(CNT_HOT_ANSWER, XDP_TX);
	case HOT_BROKEN:
		return count(CNT_PASS_MALFORMED, XDP_DROP);
	}

	__u32 queue = ctx->rx_queue_index;
	if (!bpf_map_lookup_elem(&xsks, &queue))
		return count(CNT_PASS_NO_SOCKET, XDP_PASS);
	return redirect(ctx, queue, &macs);
}

SEC("xdp")
int xdp_dns(struct xdp_md *ctx)
{
	return filter(ctx);
}

char _license[] SEC("license") = "Dual BSD/GPL";
