// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Hot answers in the XDP program: a query whose key is in the hot table
// is answered in place with XDP_TX, with the bytes the user-space hot table
// (plugin/afxdp/hot) would write for it, which are the chain's. Included by
// xdp_dns.c after its maps; it runs only on queries that passed the martian
// and route checks. Whatever it cannot key or vouch for goes on, untouched,
// to the redirect: the user-space tier and the chain see it as today.

enum hot_result {
	HOT_MISS = 0, // the frame is untouched
	HOT_SENT,     // the frame is the reply
	HOT_BROKEN,   // the frame was changed and could not be finished (never seen)
	HOT_TOO_BIG,  // the reply would exceed the route's MTU; the frame is untouched
};

// One's-complement arithmetic on big-endian 16-bit words held as numbers:
// sums accumulate in 64 bits and fold at the end. A run of bytes that
// starts at an odd offset of the datagram adds its even-aligned sum with
// the bytes swapped.
static __always_inline __u32 csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u32)((s & 0xffff) + (s >> 16));
}

static __always_inline __u32 csum_at(__u64 s, __u32 odd)
{
	__u32 f = csum_fold(s);
	return odd ? ((f & 0xff) << 8) | (f >> 8) : f;
}

static __always_inline __u64 sum_addr(const __u32 *a, int words)
{
	__u64 s = 0;
	for (int i = 0; i < words; i++)
		s += bpf_ntohl(a[i]);
	return s;
}

// Query types a cache hit may not answer as any other (hot.ParseQuery).
static __always_inline int hot_qtype(__u16 t)
{
	switch (t) {
	case 41: case 43: case 46: case 249: case 250:
	case 251: case 252: case 253: case 254: case 255:
		return 0;
	}
	return 1;
}

// The query as read by hot_parse: its key and what the reply echoes.
struct hot_query {
	struct hot_key key;
	__u64 name[HOT_NAME_MAX / 8]; // as hot_cell's name
	__u64 qsum;   // the question (name, type, class) as it sits at offset 12
	__u32 qend;   // DNS offset just past the question
	__u32 opt;    // 1 if it carries a bare OPT (11 bytes at qend)
	__u16 osize;  // the OPT's UDP size as sent
	__u8 oflags;  // the OPT's high flag byte as sent (DO and Z bits 8-14)
	__u8 ad;      // the query's AD bit
	__u64 osum;   // the query's OPT, at qend
};

// The most bytes in front of the records: one VLAN tag, IPv6, UDP, the
// DNS header, the longest keyed name, QTYPE and QCLASS.
#define HOT_FRONT_MAX (18 + 40 + 8 + 12 + HOT_NAME_MAX + 4)

// What hot_answer works in: a per-CPU map value rather than the stack,
// which as a global function it may not take much of beside the filter's
// (512 bytes in all). An XDP program does not nest on a CPU.
struct hot_scratch {
	struct hot_query q;
	__u64 front[HOT_FRONT_MAX / 8 + 1]; // hot_room's copy of the headers and question
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hot_scratch);
} hot_scratch SEC(".maps");

// lower8 lowercases the ASCII letters of eight bytes at once (label
// lengths, at most 63, are never letters; bytes from 0x80 are kept).
static __always_inline __u64 lower8(__u64 w)
{
	__u64 hept = w & 0x7f7f7f7f7f7f7f7fULL;
	__u64 ge_a = hept + 0x3f3f3f3f3f3f3f3fULL; // bit 7 set from 'A'
	__u64 gt_z = hept + 0x2525252525252525ULL; // bit 7 set above 'Z'
	__u64 upper = (ge_a ^ gt_z) & ~w & 0x8080808080808080ULL;
	return w | (upper >> 2);
}

// HOT_HASH_MUL is the odd multiplier of hot_name's hash: each step is a
// bijection, so names of one word never collide.
#define HOT_HASH_MUL 0x9e3779b97f4a7c15ULL

// hot_name reads the question name at name: it walks the labels (no
// pointers, no reserved label types, as hot.ParseQuery; longer names than
// the key holds are not keyed), then copies it into q->name eight bytes
// at a time, lowercased, hashes that, and sums the name as sent. It
// returns the name's length.
static __always_inline int hot_name(__u8 *name, void *data_end, struct hot_query *q)
{
	__u32 off = 0;
	int len = 0;
	for (int k = 0; k < HOT_NAME_MAX / 2; k++) {
		if (off >= HOT_NAME_MAX || (void *)(name + off + 1) > data_end)
			return 0;
		__u8 c = name[off];
		if (c & 0xc0)
			return 0;
		if (c == 0) {
			len = off + 1;
			break;
		}
		off += c + 1;
	}
	if (len < 4)
		return 0; // the tail load below needs four bytes (the root alone is no cache hit worth it)

	// Eight bytes at a time; a word that would end past the name and its
	// QTYPE and QCLASS is loaded that much earlier and shifted down, so no
	// load leaves the question. Little-endian loads: the sum comes out
	// byte-swapped.
	__u64 sum = 0, hash = 0;
#pragma unroll
	for (int j = 0; j < HOT_NAME_MAX / 8; j++) {
		int at = j * 8;
		if (at >= len)
			break; // the key's rest stays zero
		__u32 base = at < len - 4 ? at : len - 4;
		if (base > HOT_NAME_MAX || (void *)(name + base + 8) > data_end)
			return 0;
		__u64 w = *(__u64 *)(name + base) >> (8 * ((at - base) & 7));
		int r = len - at;
		if (r < 8)
			w &= ~0ULL >> (8 * ((8 - r) & 7));
		sum += w;
		sum += sum < w;
		w = lower8(w);
		q->name[j] = w;
		hash = (hash ^ w) * HOT_HASH_MUL; // bpf.hotHash
	}
	__u32 f = csum_fold(sum);
	q->qsum = ((f & 0xff) << 8) | (f >> 8);
	q->key.name_len = len;
	q->key.name_hash = hash;
	return len;
}

// hot_parse keys the query in dns (of ulen UDP bytes in all) if it is one
// hot.ParseQuery accepts: one question, nothing else but a bare OPT
// (root owner, version 0, no options) at the very end, class IN.
static __always_inline int hot_parse(struct dnshdr *dns, __u32 ulen, void *data_end, struct hot_query *q)
{
	if (dns->qdcount != bpf_htons(1) || dns->ancount || dns->nscount || bpf_ntohs(dns->arcount) > 1)
		return 0;
	__u8 *name = (void *)(dns + 1);
	int len = hot_name(name, data_end, q);
	if (len <= 0 || len > HOT_NAME_MAX)
		return 0;
	__u8 *p = name + len;
	if ((void *)(p + 4) > data_end)
		return 0;
	__u16 qtype = bpf_ntohs(*(__u16 *)p);
	if (*(__u16 *)(p + 2) != bpf_htons(1) || !hot_qtype(qtype))
		return 0;
	q->key.qtype = *(__u16 *)p;
	q->qsum += csum_at(qtype + 1, len & 1);
	q->qend = 12 + len + 4;
	q->opt = dns->arcount != 0;
	if (q->opt) {
		__u8 *o = p + 4;
		if ((void *)(o + 11) > data_end)
			return 0;
		if (o[0] || o[1] || o[2] != 41 || o[6] || o[9] || o[10])
			return 0;
		q->osize = (__u16)o[3] << 8 | o[4];
		q->oflags = o[7];
		__u64 s = (__u32)o[0] << 8 | o[1];
		s += (__u32)o[2] << 8 | o[3];
		s += (__u32)o[4] << 8 | o[5];
		s += (__u32)o[6] << 8 | o[7];
		s += (__u32)o[8] << 8 | o[9];
		s += (__u32)o[10] << 8;
		q->osum = csum_at(s, len & 1);
		if (o[7] & 0x80)
			q->key.flags |= HOT_DO;
	}
	if (ulen != 8 + q->qend + (q->opt ? 11 : 0))
		return 0; // something trails
	if (dns->flags2 & 0x10)
		q->key.flags |= HOT_CD;
	q->ad = dns->flags2 & 0x20;
	return 1;
}

// The reply's OPT: SizeAndDo's copy of the client's (its UDP size, the DO
// and Z bits 8-14 kept, the low flag byte, version and extended RCODE
// zero: every stored RCODE is below 16), no options.
static __always_inline void hot_opt(const struct hot_query *q, __u8 o[12])
{
	__builtin_memset(o, 0, 12);
	o[2] = 41;
	o[3] = q->osize >> 8;
	o[4] = q->osize & 0xff;
	o[7] = q->oflags;
}

static __always_inline __u64 hot_opt_sum(const __u8 o[12])
{
	return ((__u32)o[2] << 8 | o[3]) + ((__u32)o[4] << 8) + o[7];
}

// hot_move copies len bytes (at most max) between buf and the frame at
// off, eight at a time, with direct packet access: into the frame if
// to_frame, else out of it. bpf_xdp_store_bytes took 110 ns for 16 bytes
// of records in BenchmarkHot, this 30.
static __always_inline int hot_move(struct xdp_md *ctx, __u32 off, __u8 *buf, __u32 len, __u32 max, int to_frame)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (off > HOT_FRONT_MAX + HOT_RRS_MAX || len > max)
		return -1;
	__u8 *pkt = data + off;
	__u32 i = 0;
#pragma clang loop unroll(disable)
	for (int k = 0; k < (int)(max / 8); k++) { // max is a constant where inlined: the verifier walks that many
		if (i + 8 > len)
			break;
		if ((void *)(pkt + i + 8) > data_end)
			return -1;
		if (to_frame)
			*(__u64 *)(pkt + i) = *(__u64 *)(buf + i);
		else
			*(__u64 *)(buf + i) = *(__u64 *)(pkt + i);
		i += 8;
	}
#pragma clang loop unroll(disable)
	for (int k = 0; k < 7; k++) {
		if (i >= len || i >= max)
			break;
		if ((void *)(pkt + i + 1) > data_end)
			return -1;
		if (to_frame)
			pkt[i] = buf[i];
		else
			buf[i] = pkt[i];
		i++;
	}
	return 0;
}

// hot_room makes the frame frame_len bytes long with grow bytes of room
// after its first front bytes (the headers and the question), the rest
// where it was. It grows the tail where the tailroom allows; a veth hands
// XDP its peer's skb data, whose tailroom is seldom enough (4 answers in
// 5 fell through), but always at least 256 bytes of headroom, so there it
// moves the front forward into the headroom instead. Tail first: a frame
// whose head moved costs the veth's NAPI a new skb around it: 4.4 against
// 2.6 us of CPU per answer at 400 k offered (make bench). -1: the frame
// is unchanged; -2: it was changed and is no longer a query; 1: the tail
// grew; 0: the front moved.
static __always_inline int hot_room(struct xdp_md *ctx, __u32 front, __u32 grow, __u32 frame_len, __u8 *buf)
{
	if (front == 0 || front > HOT_FRONT_MAX || grow == 0 || grow > HOT_RRS_MAX)
		return -1;
	int delta = (int)frame_len - (int)bpf_xdp_get_buff_len(ctx);
	if (bpf_xdp_adjust_tail(ctx, delta) == 0)
		return 1; // the query's OPT is where it was: no move
	if (hot_move(ctx, 0, buf, front, HOT_FRONT_MAX, 0))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return -1;
	if (hot_move(ctx, 0, buf, front, HOT_FRONT_MAX, 1))
		return -2;
	// Cut the Ethernet padding of a short query, if any.
	int cut = (int)frame_len - (int)bpf_xdp_get_buff_len(ctx);
	if (cut && bpf_xdp_adjust_tail(ctx, cut))
		return -2;
	return 0;
}

// hot_mix is the key's hash: the name's hash and the rest of the key,
// mixed by murmur3's finalizer (bpf.hotMix), so the bucket (low bits)
// and the tag (high bits) both depend on every part.
static __always_inline __u64 hot_mix(const struct hot_key *k)
{
	__u64 h = k->name_hash ^ ((__u64)k->listener << 32 | (__u64)k->qtype << 16 |
				  (__u64)k->flags << 8 | k->name_len);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#define HOT_TAG_CELL 0xffffffULL

// hot_find returns the cell of q's entry, or NULL: one bucket's line of
// tags, then the cell, whose key must be q's.
static __always_inline struct hot_cell *hot_find(const struct hot_query *q, __u32 *cell)
{
	__u64 h = hot_mix(&q->key);
	__u32 b = h & (HOT_BUCKETS - 1);
	struct hot_bucket *bk = bpf_map_lookup_elem(&hot_index, &b);
	if (!bk)
		return NULL;
	// Branch-free: a break per way made eight paths of the rest for the
	// verifier. An empty way's cell bits are 0; two ways matching (one
	// key's 40 hash bits twice in a bucket) would give a cell whose key
	// does not match, a miss.
	__u64 ref = 0;
#pragma unroll
	for (int i = 0; i < HOT_WAYS; i++) {
		__u64 t = *(volatile __u64 *)&bk->tag[i];
		__u64 x = (t ^ h) & ~HOT_TAG_CELL;
		__u64 hit = ((x | -x) >> 63) ^ 1; // x == 0
		ref |= (t & HOT_TAG_CELL) * hit;
	}
	if (!ref)
		return NULL;
	*cell = ref - 1;
	struct hot_cell *v = bpf_map_lookup_elem(&hot_cells, cell);
	if (!v || v->listener != q->key.listener || v->qtype != q->key.qtype || v->flags != q->key.flags ||
	    v->name_len != q->key.name_len)
		return NULL;
	__u64 diff = 0;
#pragma unroll
	for (int j = 0; j < HOT_NAME_MAX / 8; j++)
		diff |= v->name[j] ^ q->name[j];
	return diff ? NULL : v;
}

// hot_rrs copies the entry's records into the frame at off: the first
// cell's part, then the next two cells' if it has more.
static __always_inline int hot_rrs(struct xdp_md *ctx, __u32 off, const struct hot_cell *v, __u32 cell, __u32 len)
{
	__u32 first = len < HOT_CELL_RRS ? len : HOT_CELL_RRS;
	if (hot_move(ctx, off, (__u8 *)v->rrs, first, HOT_CELL_RRS, 1))
		return -1;
	if (len <= HOT_CELL_RRS)
		return 0;
	__u32 c1 = cell + 1, c2 = cell + 2;
	__u8 *m1 = bpf_map_lookup_elem(&hot_cells, &c1);
	__u8 *m2 = bpf_map_lookup_elem(&hot_cells, &c2);
	if (!m1 || !m2)
		return -1;
	__u32 rest = len - HOT_CELL_RRS;
	__u32 second = rest < HOT_CELL ? rest : HOT_CELL;
	if (hot_move(ctx, off + HOT_CELL_RRS, m1, second, HOT_CELL, 1))
		return -1;
	if (rest <= HOT_CELL)
		return 0;
	return hot_move(ctx, off + HOT_CELL_RRS + HOT_CELL, m2, rest - HOT_CELL, HOT_RRS_MAX - HOT_CELL_RRS - HOT_CELL, 1);
}

// hot_records writes cell's entry's records at off of the frame, each
// TTL field set to ttl: 0, or -1 if the frame could not take them. A
// global function, verified once on its own: inlined, its paths (one,
// two or three cells) multiplied the rest of hot_answer's for the
// verifier.
__noinline int hot_records(struct xdp_md *ctx, __u32 off, __u32 cell, __u32 ttl)
{
	if (!ctx)
		return -1;
	struct hot_cell *v = bpf_map_lookup_elem(&hot_cells, &cell);
	if (!v || off > HOT_FRONT_MAX)
		return -1;
	__u32 len = v->rrs_len, n = v->nttl;
	if (len == 0 || len > HOT_RRS_MAX || hot_rrs(ctx, off, v, cell, len))
		return -1;
	__u32 be = bpf_htonl(ttl);
#pragma clang loop unroll(disable)
	for (int i = 0; i < HOT_TTLS; i++) {
		if (i >= n)
			break;
		__u32 at = v->ttl_at[i];
		if (at > HOT_RRS_MAX - 4)
			return -1;
		void *data = (void *)(long)ctx->data;
		void *data_end = (void *)(long)ctx->data_end;
		__u8 *p = data + off + at;
		if ((void *)(p + 4) > data_end)
			return -1;
		__builtin_memcpy(p, &be, 4);
	}
	return 0;
}

// hot_answer answers the query in the frame from the live hot map, in
// place: the reply to the route's next hop from the delivering device's
// MAC, addresses and ports swapped, the IP header as the datapath writes
// one (TOS 0, hop limit 64, IPv4 ID 0 with DF), the client's ID and
// question, the entry's flags and records, the client's OPT as the chain
// echoes it, both checksums computed. A query whose checksums are wrong is
// not answered (the kernel drops it; the datapath counts it).
//
// A global function: the verifier checks it once, on its own, instead of
// once for every path of the filter that reaches it (inlined, it took the
// program to 919 k of the verifier's 1 M instructions and 1.1 s to load).
__noinline int hot_answer(struct xdp_md *ctx, const struct pkt_info *info, const struct reply_macs *macs)
{
	if (!info || !macs)
		return HOT_MISS;
	__u32 zero = 0;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	// Offsets from flags, so the verifier sees their bounds.
	__u32 l3 = 14 + ((info->tagged & 1) << 2);
	__u32 l4 = l3 + 20 + ((info->v6 & 1) * 20);
	struct udphdr *udp = data + l4;
	struct dnshdr *dns = (void *)(udp + 1);
	if ((void *)(dns + 1) > data_end)
		return HOT_MISS;

	__u32 ulen = bpf_ntohs(udp->len);
	__u64 addrs; // the pseudo-header's addresses: the same sum swapped
	if (info->v6) {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > data_end || bpf_ntohs(ip6->payload_len) != ulen || !udp->check)
			return HOT_MISS;
		addrs = sum_addr((__u32 *)&ip6->saddr, 8);
	} else {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > data_end || ip->ihl != 5 || bpf_ntohs(ip->tot_len) != 20 + ulen)
			return HOT_MISS;
		addrs = sum_addr(&ip->saddr, 2);
	}

	struct hot_scratch *sc = bpf_map_lookup_elem(&hot_scratch, &zero);
	if (!sc)
		return HOT_MISS;
	struct hot_query *q = &sc->q;
	__builtin_memset(&q->key, 0, sizeof(q->key));
	__builtin_memset(q->name, 0, sizeof(q->name));
	q->osum = 0;
	q->osize = 0;
	q->oflags = 0;
	if (!hot_parse(dns, ulen, data_end, q))
		return HOT_MISS;
	q->key.listener = info->listener;
	if (info->v6)
		q->key.flags |= HOT_V6;

	__u32 cell;
	struct hot_cell *v = hot_find(q, &cell);
	if (!v)
		return HOT_MISS;
	// The TTL the cache would give now: the base TTL less the whole seconds
	// since base, and never 1 or less (hot.Table.Answer's rule). The coarse
	// clock (a third of the cost of the fine one here) lags CLOCK_MONOTONIC
	// by at most a tick; user space writes base that much early
	// (bpf.HotClockSlack), so the TTL is never above the table's.
	__u64 now = bpf_ktime_get_coarse_ns();
	__u64 secs = now > v->base ? (now - v->base) / 1000000000ULL : 0;
	__u32 ttl0 = v->ttl;
	if (secs + 1 >= ttl0)
		return HOT_MISS;
	__u32 ttl = ttl0 - (__u32)secs;
	__u32 nttl = v->nttl, odd_ttls = v->odd_ttls;
	if (nttl == 0 || nttl > HOT_TTLS || odd_ttls > nttl)
		return HOT_MISS;

	// Only an answer needs the query's checksums to hold (the UDP one's
	// zero: none, IPv4 only): a miss goes on to the receive loop, which
	// checks them itself.
	if (!info->v6 && csum_fold(sum_addr((__u32 *)(data + l3), 5)) != 0xffff)
		return HOT_MISS; // a wrong header checksum
	if (udp->check) {
		__u32 words = bpf_ntohs(dns->id) + ((__u32)dns->flags1 << 8 | dns->flags2) + 1 + bpf_ntohs(dns->arcount);
		__u64 s = addrs + IPPROTO_UDP + 2 * ulen + bpf_ntohs(udp->source) + bpf_ntohs(udp->dest) +
			  bpf_ntohs(udp->check) + words + q->qsum + q->osum;
		if (csum_fold(s) != 0xffff)
			return HOT_MISS;
	}
	int show_ad = (q->key.flags & HOT_DO) || q->ad;
	if (show_ad && !v->ad_known)
		return HOT_MISS;
	__u32 rrs_len = v->rrs_len;
	if (rrs_len == 0 || rrs_len > HOT_RRS_MAX)
		return HOT_MISS;
	__u32 dlen = q->qend + rrs_len + (q->opt ? 11 : 0);
	if (dlen > HOT_REPLY_MAX)
		return HOT_MISS;
	if (info->mtu && (info->v6 ? 40 : 20) + 8 + dlen > info->mtu)
		return HOT_TOO_BIG;

	// What the reply says, decided before the frame changes.
	__u8 f1 = 0x80 | (v->flags2 & 0x04) | (dns->flags1 & 0x01);
	__u8 f2 = v->flags3 | (show_ad ? (v->ad & 0x20) : 0) | (dns->flags2 & 0x10);
	__u16 id = dns->id, sport = udp->source, dport = udp->dest;
	__u16 an = v->an, ns = v->ns, ex = bpf_htons(bpf_ntohs(v->ex) + q->opt);
	__u32 slot = bpf_get_smp_processor_id() * HOT_ENTRIES + v->slot;
	__u32 rlen = 8 + dlen;
	__u8 opt[12];
	hot_opt(q, opt);
	__u64 s = addrs + IPPROTO_UDP + 2 * rlen + bpf_ntohs(sport) + bpf_ntohs(dport) + bpf_ntohs(id) +
		  ((__u32)f1 << 8 | f2) + 1 + bpf_ntohs(an) + bpf_ntohs(ns) + bpf_ntohs(ex) + q->qsum +
		  csum_at(v->rrs_sum, q->qend & 1);
	// The TTL fields, stored as 0: each adds the TTL's two words, swapped
	// where the field starts at an odd offset of the datagram.
	__u64 tsum = (ttl >> 16) + (ttl & 0xffff);
	s += csum_at((nttl - odd_ttls) * tsum, q->qend & 1) + csum_at(odd_ttls * tsum, (q->qend + 1) & 1);
	if (q->opt)
		s += csum_at(hot_opt_sum(opt), (q->qend + rrs_len) & 1);
	__u16 check = ~csum_fold(s) & 0xffff;
	if (!check)
		check = 0xffff;

	switch (hot_room(ctx, l4 + 8 + q->qend, rrs_len, l4 + rlen, (__u8 *)sc->front)) {
	case -1:
		return HOT_MISS;
	case -2:
		return HOT_BROKEN;
	}
	if (hot_records(ctx, l4 + 8 + q->qend, cell, ttl))
		return HOT_BROKEN;
	if (q->opt && hot_move(ctx, l4 + 8 + q->qend + rrs_len, opt, 11, sizeof(opt), 1))
		return HOT_BROKEN;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + l4 + 8 + 12 > data_end)
		return HOT_BROKEN;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end) // for the verifier: l4 is not a constant here
		return HOT_BROKEN;
	__builtin_memcpy(eth->h_dest, macs->next_hop, ETH_ALEN);
	__builtin_memcpy(eth->h_source, macs->own, ETH_ALEN);
	if (info->v6) {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > data_end)
			return HOT_BROKEN;
		struct in6_addr a = ip6->saddr;
		ip6->saddr = ip6->daddr;
		ip6->daddr = a;
		*(__u32 *)ip6 = bpf_htonl(0x60000000);
		ip6->payload_len = bpf_htons(rlen);
		ip6->hop_limit = 64;
	} else {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > data_end)
			return HOT_BROKEN;
		__u32 a = ip->saddr;
		ip->saddr = ip->daddr;
		ip->daddr = a;
		ip->tos = 0;
		ip->tot_len = bpf_htons(20 + rlen);
		ip->id = 0;
		ip->frag_off = bpf_htons(0x4000);
		ip->ttl = 64;
		ip->check = 0;
		ip->check = bpf_htons(~csum_fold(sum_addr((__u32 *)ip, 5)) & 0xffff);
	}
	udp = data + l4;
	dns = (void *)(udp + 1);
	if ((void *)(dns + 1) > data_end)
		return HOT_BROKEN;
	udp->source = dport;
	udp->dest = sport;
	udp->len = bpf_htons(rlen);
	udp->check = bpf_htons(check);
	dns->flags1 = f1;
	dns->flags2 = f2;
	dns->ancount = an;
	dns->nscount = ns;
	dns->arcount = ex;

	struct hot_hit *hits = bpf_map_lookup_elem(&hot_hits, &slot);
	if (hits) {
		if (q->opt)
			hits->n[1] += 1;
		else
			hits->n[0] += 1;
	}
	return HOT_SENT;
}
