//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Benchmark harness for BenchmarkHot (test-only: its Go is generated into
// _test files). A hot answer turns the query into its reply, so a test run
// that repeats the program would answer once and then see a response. Each
// harness run first restores the query from bench_frame (tail and bytes),
// then runs the filter; bench_restore does the restoring alone, so the
// filter's own cost is the difference. A test run's buffer has the
// tailroom a hit needs, so hits here take hot_room's tail path.
// Loaded with the Filter's maps.

#include "xdp_dns.c"

#define BENCH_FRAME_MAX 256

struct bench_frame {
	__u32 len;
	__u32 pad;
	__u8 data[BENCH_FRAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_frame);
} bench_frames SEC(".maps");

static __always_inline int restore(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct bench_frame *f = bpf_map_lookup_elem(&bench_frames, &zero);
	if (!f)
		return -1;
	__u32 len = f->len;
	if (len == 0 || len > BENCH_FRAME_MAX)
		return -1;
	int delta = (int)len - (int)bpf_xdp_get_buff_len(ctx);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, f->data, len);
}

SEC("xdp")
int bench_restore(struct xdp_md *ctx)
{
	if (restore(ctx))
		return XDP_ABORTED;
	return XDP_PASS;
}

SEC("xdp")
int bench_filter(struct xdp_md *ctx)
{
	if (restore(ctx))
		return XDP_ABORTED;
	return filter(ctx);
}
