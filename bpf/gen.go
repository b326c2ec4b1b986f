// Package bpf loads the afxdp XDP filter, attaches it to an interface and
// keeps its maps: which queues have an AF_XDP socket, which addresses and
// ports are served, and what the program counted. It knows nothing of rings,
// DNS messages or CoreDNS.
package bpf

// The generated Go and object are committed so that building needs no clang.
// BPF2GO_CFLAGS carries the include path of the asm headers (see the Makefile).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -type counter -type served4_key -type served6_key filter xdp_dns.c
