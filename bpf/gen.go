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
