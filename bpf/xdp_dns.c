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
#define MAX_VLANS 8192
#define AF_INET 2
#define AF_INET6 10
// The kernel's loopback device: the FIB lookup asks from it, as for a
// reply a local socket sends.
#define LOOPBACK_IFINDEX 1
// At most this many next hops are asked about per CPU per window.
#define NEIGH_ASK_BURST 64
#define NEIGH_ASK_WINDOW_NS 100000000ULL

// Hot answers: the longest name the program keys (wire octets, root label
// included), the most record bytes an entry holds, the largest DNS reply
// it writes (512: within every client's buffer and every size rule, so it
// is never one the chain would truncate or compress), and the most records
// whose TTLs it lowers.
#define HOT_NAME_MAX 64
#define HOT_RRS_MAX 480
#define HOT_REPLY_MAX 512
#define HOT_TTLS 12
// The hot table (see hot_index and hot_cells): buckets of HOT_WAYS tags,
// and cells of 256 bytes. An entry takes one cell when its records fit
// the first cell's HOT_CELL_RRS bytes, else three (the first cell's and
// two more of 256): HOT_SMALL_CELLS one-cell entries, the rest in threes.
#define HOT_WAYS 8
#define HOT_BUCKETS 65536
#define HOT_CELL 256
#define HOT_CELL_RRS 128
#define HOT_SMALL_CELLS 131072
#define HOT_CELLS (HOT_SMALL_CELLS + 3 * 10922)
#define HOT_ENTRIES (HOT_SMALL_CELLS + 10922)
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
	CNT_PASS_ROUTED_ELSEWHERE, // the reply would leave by another device (or next hop behind a bridge)
	CNT_PASS_NO_NEIGH,   // the reply's next hop has no usable neighbour entry yet
	CNT_PASS_FWD_DISABLED, // forwarding is off on loopback: the FIB helper refuses to look up
	CNT_PASS_NOT_FWDED,  // the FIB helper would not forward (local, broadcast, encapsulation, no source, error)
	CNT_PASS_FRAG_NEEDED, // a hot answer larger than the route's MTU
	CNT_DROP_UNREACHABLE, // no route back (blackhole, unreachable, prohibit): dropped
	CNT_HOT_ANSWER,      // answered from the hot map in place (XDP_TX)
	CNT_MAX,
};

// Keeps the enums in BTF so bpf2go generates their Go constants.
const enum counter *unused_counter __attribute__((unused));
const struct neigh_request *unused_neigh_request __attribute__((unused));
const struct hot_key *unused_hot_key __attribute__((unused));
const struct hot_cell *unused_hot_cell __attribute__((unused));
const struct hot_bucket *unused_hot_bucket __attribute__((unused));

// Where the kernel delivers a frame: the interface, its bridge or bond on
// a port, or the VLAN device over either for a tagged frame. The reply's
// route must leave by it for the frame to be answered in place.
struct delivery {
	__u32 ifindex;
	__u8 mac[6];   // the device's own MAC: the reply's source
	__u8 bridge;   // a bridge forwards by its own table: answer only to the query's MAC
	__u8 pad;
};

// What user space tells the program about the interface, so that it can
// mirror the kernel's input checks. One entry.
struct filter_config {
	__u8 mac[6];        // the interface's own MAC
	__u8 master_mac[6]; // its bridge's MAC on a bridge port, else zero
	struct delivery dev; // where untagged frames are delivered (ifindex 0: not known yet)
};

// A request to user space: have the kernel resolve the next hop addr
// (IPv4 in the first 4 bytes) on device ifindex, as its own reply would.
struct neigh_request {
	__u8 addr[16];
	__u32 ifindex;
	__u8 family; // 4 or 6
	__u8 pad[3];
};

// How many next hops a CPU asked about in its current window.
struct neigh_budget {
	__u64 window;
	__u32 asked;
	__u32 pad;
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
// hot_name) and compared with the cell's copy. qtype is as in the packet;
// the class is always IN (others are not keyed).
struct hot_key {
	__u32 listener;
	__u16 qtype;
	__u8 flags;    // HOT_DO, HOT_CD, HOT_V6 (the client's family)
	__u8 name_len; // wire octets, root label included
	__u64 name_hash;
};

// The hot table is written by user space through mmap, while the program
// reads it, without a syscall per entry. A bucket holds HOT_WAYS tags: 0
// is an empty way; else the key's hash (hot_mix) with its low 24 bits
// replaced by the entry's first cell + 1. User space writes an entry's
// cells first and its tag last (one aligned 8-byte store), clears the tag
// to remove it, and writes those cells again only after an RCU grace
// period (hot_sync): a run that found a tag reads cells that stay as they
// were until it ends. The tag's hash bits only pick the way; the cell's
// own key decides.
struct hot_bucket {
	__u64 tag[HOT_WAYS];
};

// An entry's first cell: the key and what the reply's header needs in
// its first cache line, the name in the second, then the first
// HOT_CELL_RRS bytes of records; the rest of them, if any, in the next two
// cells (256 bytes each). Record TTL fields are stored as 0: the program
// writes base TTL less the whole seconds since base into each, so nothing
// is rewritten as time passes.
struct hot_cell {
	__u32 listener; // the key, as hot_key but the hash
	__u16 qtype;
	__u8 flags;
	__u8 name_len;
	__u64 base;     // CLOCK_MONOTONIC ns at which the TTLs read ttl (less one tick, see hot.h)
	__u32 ttl;      // the records' TTL at base; not served from ttl - 1 seconds after it
	__u16 rrs_len;  // bytes of records, 1..HOT_RRS_MAX
	__u16 rrs_sum;  // one's-complement sum of the records (TTLs 0) as 16-bit words from an even offset, folded
	__u8 flags2;    // the reply's AA bit (0x04); QR, opcode and RD are the program's
	__u8 flags3;    // RA (0x80) and RCODE; AD and CD are the program's
	__u8 ad;        // the stored AD bit (0x20): shown only to a client that sent DO or AD
	__u8 ad_known;  // the entry knows its AD bit (its filling query had DO or AD)
	__u16 an, ns, ex; // record counts, network order (ex without the OPT)
	__u8 nttl;      // TTL fields, 1..HOT_TTLS
	__u8 odd_ttls;  // of them at an odd offset of the records
	__u16 ttl_at[HOT_TTLS]; // each TTL field's offset in the records
	__u32 slot;     // its hit counters' index in each CPU's part of hot_hits
	__u64 name[HOT_NAME_MAX / 8]; // the lowercased wire name, little-endian words, zero after it
	__u8 rrs[HOT_CELL_RRS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, HOT_BUCKETS);
	__type(key, __u32);
	__type(value, struct hot_bucket);
} hot_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, HOT_CELLS);
	__type(key, __u32);
	__type(value, struct hot_cell);
} hot_cells SEC(".maps");

// Never read by the program: updating it makes the kernel wait for every
// running program (an RCU grace period) before the update returns, which
// is how user space knows a removed entry's cells are no longer read.
struct hot_sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct hot_sync_inner);
} hot_sync SEC(".maps");

// Hit counters: a pair per entry (queries without and with OPT) per
// CPU, CPU-major, so each CPU writes only its own lines and user space
// reads them all through mmap without a syscall. User space sizes it to
// the possible CPUs times HOT_ENTRIES at load; 32-bit counters wrap, and
// user space reads them far more often than 2^32 hits.
struct hot_hit {
	__u32 n[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, HOT_ENTRIES);
	__type(key, __u32);
	__type(value, struct hot_hit);
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

// Where tagged frames are delivered, by tag: the VID, bit 15 set for an
// 802.1ad tag. A tag without a device is dropped by the kernel.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_VLANS);
	__type(key, __u16);
	__type(value, struct delivery);
} vlans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} neigh_requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct neigh_budget);
} neigh_budget SEC(".maps");

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

// mac_eq compares MACs by 16-bit words: some are only 2-byte aligned (the
// FIB lookup's dmac), and the verifier refuses misaligned stack reads.
static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	const __u16 *x = (const __u16 *)a, *y = (const __u16 *)b;
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2];
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

// is_local says whether a source is one of the namespace's own addresses
// (or an IPv4 directed broadcast), which the kernel refuses. The FIB
// lookup of such a source ends in a local or broadcast route (NOT_FWDED),
// so only that outcome pays for this lookup.
static __always_inline int is_local(void *map, const void *saddr)
{
	return bpf_map_lookup_elem(map, saddr) != NULL;
}

// The reply's MACs when it may be sent in place.
struct reply_macs {
	__u8 next_hop[6];
	__u8 own[6];
};

// Where a query that may be answered in place stands in its frame, which
// listener it is for (the served map's value), and the MTU of the reply's
// route (0: not known; the hot answer's size is checked against it).
struct pkt_info {
	__u32 listener;
	__u32 tagged; // one VLAN tag: the IP header at 18, not 14
	__u32 v6;
	__u32 mtu;
};

// neigh_ask asks user space to have the kernel resolve a next hop, as the
// kernel's own reply would; at most NEIGH_ASK_BURST per CPU per window, and
// a full ring loses the question (the next query asks again).
static __always_inline void neigh_ask(const struct bpf_fib_lookup *fib)
{
	__u32 zero = 0;
	struct neigh_budget *b = bpf_map_lookup_elem(&neigh_budget, &zero);
	if (!b)
		return;
	__u64 w = bpf_ktime_get_coarse_ns() / NEIGH_ASK_WINDOW_NS;
	if (b->window != w) {
		b->window = w;
		b->asked = 0;
	}
	if (b->asked >= NEIGH_ASK_BURST)
		return;
	b->asked++;
	struct neigh_request *req = bpf_ringbuf_reserve(&neigh_requests, sizeof(*req), 0);
	if (!req)
		return;
	__builtin_memset(req, 0, sizeof(*req));
	if (fib->family == AF_INET) {
		__builtin_memcpy(req->addr, &fib->ipv4_dst, 4);
		req->family = 4;
	} else {
		__builtin_memcpy(req->addr, fib->ipv6_dst, 16);
		req->family = 6;
	}
	req->ifindex = fib->ifindex;
	bpf_ringbuf_submit(req, 0);
}

// delivery_of is the device the kernel delivers a frame of this tag to.
static __always_inline const struct delivery *delivery_of(const struct filter_config *cfg, __u16 vlan)
{
	if (!vlan)
		return cfg->dev.ifindex ? &cfg->dev : NULL;
	return bpf_map_lookup_elem(&vlans, &vlan);
}

// route_check asks the kernel's FIB, for every query, how the kernel would
// send the reply: from loopback (as a local socket's reply), source the
// served address and port, destination the client, policy rules
// honoured. A reply that leaves by the delivering device is answered in
// place, to the next hop's MAC the lookup gives; any other outcome goes to
// the kernel, which then applies its own input checks (rp_filter
// included) and routes the reply itself, or is dropped where the kernel
// would have no route back. fib arrives with the family's addresses set.
static __always_inline int route_check(struct xdp_md *ctx, struct bpf_fib_lookup *fib, void *local,
				       const void *saddr, __u16 sport, __u16 dport,
				       const struct ethhdr *eth, __u16 vlan, const struct filter_config *cfg,
				       struct reply_macs *macs, struct pkt_info *info, int on_link)
{
	const struct delivery *dev = delivery_of(cfg, vlan);
	if (!dev)
		return CNT_PASS_ROUTED_ELSEWHERE; // a tag with no device: the kernel drops it
	if (on_link) { // no lookup: to the MAC it came from
		__builtin_memcpy(macs->next_hop, eth->h_source, ETH_ALEN);
		__builtin_memcpy(macs->own, dev->mac, ETH_ALEN);
		return CNT_REDIRECT;
	}
	fib->l4_protocol = IPPROTO_UDP;
	fib->sport = dport; // the reply's ports: multipath and port rules hash as for it
	fib->dport = sport;
	fib->ifindex = LOOPBACK_IFINDEX;

	long rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		if (fib->ifindex != dev->ifindex)
			return CNT_PASS_ROUTED_ELSEWHERE;
		// Through a bridge the next hop may sit behind another port.
		if (dev->bridge && !mac_eq(fib->dmac, eth->h_source))
			return CNT_PASS_ROUTED_ELSEWHERE;
		__builtin_memcpy(macs->next_hop, fib->dmac, ETH_ALEN);
		__builtin_memcpy(macs->own, dev->mac, ETH_ALEN);
		info->mtu = fib->mtu_result;
		return CNT_REDIRECT;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		if (fib->ifindex != dev->ifindex)
			return CNT_PASS_ROUTED_ELSEWHERE;
		neigh_ask(fib);
		return CNT_PASS_NO_NEIGH;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return CNT_DROP_UNREACHABLE;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return CNT_PASS_FWD_DISABLED;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED: // not asked for (tot_len 0): as any other
		return CNT_PASS_FRAG_NEEDED;
	}
	if (is_local(local, saddr))
		return CNT_PASS_MARTIAN;
	return CNT_PASS_NOT_FWDED;
}

static __always_inline int route_check4(struct xdp_md *ctx, const struct ethhdr *eth, __u16 vlan,
					__u32 saddr, __u32 daddr, __u16 sport, __u16 dport,
					const struct filter_config *cfg, struct reply_macs *macs,
					struct pkt_info *info)
{
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.ipv4_src = daddr;
	fib.ipv4_dst = saddr;
	return route_check(ctx, &fib, &local4, &saddr, sport, dport, eth, vlan, cfg, macs, info, 0);
}

// An IPv6 link-local client is on the link by definition, and the
// helper does not forward to link-local destinations (NOT_FWDED): it is
// answered in place to the MAC it came from, out of the delivering device.
static __always_inline int route_check6(struct xdp_md *ctx, const struct ethhdr *eth, __u16 vlan,
					const struct in6_addr *saddr, const struct in6_addr *daddr,
					__u16 sport, __u16 dport, const struct filter_config *cfg,
					struct reply_macs *macs, struct pkt_info *info)
{
	int link_local = saddr->in6_u.u6_addr8[0] == 0xfe && (saddr->in6_u.u6_addr8[1] & 0xc0) == 0x80;
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET6;
	__builtin_memcpy(fib.ipv6_src, daddr, 16);
	__builtin_memcpy(fib.ipv6_dst, saddr, 16);
	return route_check(ctx, &fib, &local6, saddr, sport, dport, eth, vlan, cfg, macs, info, link_local);
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

static __always_inline int parse_ipv4(struct xdp_md *ctx, const struct ethhdr *eth, __u16 vlan, void *l3,
				      void *data_end, struct reply_macs *macs, struct pkt_info *info)
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
	return route_check4(ctx, eth, vlan, ip->saddr, ip->daddr, udp->source, udp->dest, cfg, macs, info);
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

static __always_inline int parse_ipv6(struct xdp_md *ctx, const struct ethhdr *eth, __u16 vlan, void *l3,
				      void *data_end, struct reply_macs *macs, struct pkt_info *info)
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
	return route_check6(ctx, eth, vlan, &ip6->saddr, &ip6->daddr, udp->source, udp->dest, cfg, macs, info);
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
		return parse_ipv4(ctx, eth, vlan, l3, data_end, macs, info);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(ctx, eth, vlan, l3, data_end, macs, info);
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
	if (c == CNT_DROP_UNREACHABLE) // the kernel's reply would go nowhere
		return count(c, XDP_DROP);
	if (c != CNT_REDIRECT)
		return count(c, XDP_PASS);

	switch (hot_answer(ctx, &info, &macs)) {
	case HOT_SENT:
		return count(CNT_HOT_ANSWER, XDP_TX);
	case HOT_BROKEN:
		return count(CNT_PASS_MALFORMED, XDP_DROP);
	case HOT_TOO_BIG: // the kernel fragments to the route's MTU
		return count(CNT_PASS_FRAG_NEEDED, XDP_PASS);
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
