// Package bpf loads the afxdp XDP filter, attaches it to an interface and
// keeps its maps: which queues have an AF_XDP socket, which addresses and
// ports are served, what it mirrors of the kernel's input checks (MACs,
// local addresses, the devices frames are delivered to: all told to it by
// its caller; the route back it asks the kernel's FIB itself, per query),
// the next hops it asks its caller to resolve, the hot answers it sends
// back itself (XDP_TX; the caller writes each entry's bytes, the program
// copies them behind the client's question), and what the program
// counted. The program reads the
// DNS header and question; the package knows nothing of rings, DNS
// libraries or CoreDNS.
package bpf

// The generated Go and object are committed so that building needs no clang;
// CI regenerates them (make generate) and fails if they differ. The line
// carries every compiler flag, so `go generate ./bpf` alone reproduces them:
// bpf2go (pinned by go.mod's tool line) strips paths and the clang version,
// and -cflags overrides any BPF2GO_CFLAGS in the environment. The compiler is
// bpf2go's -cc default, $BPF2GO_CC or clang; make generate sets clang-14.
// Debian keeps the asm headers in a per-arch directory; both are named and
// clang skips the one that is missing.
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -target bpfel -type counter -type filter_config -type delivery -type neigh_request -type served4_key -type served6_key -type hot_key -type hot_cell -type hot_bucket filter xdp_dns.c

// The benchmark harness of BenchmarkHot; its Go goes into _test files.
//go:generate go tool bpf2go -output-suffix _test -cflags "-O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -target bpfel -no-global-types benchHot bench_hot.c
