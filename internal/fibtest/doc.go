// Package fibtest gives tests of the XDP program a network namespace whose
// routes and neighbours are declared in Go (Table), and runs the program
// inside it with BPF_PROG_TEST_RUN.
//
// The program asks the kernel's FIB about every query (bpf_fib_lookup). A
// test run does that lookup in the network namespace of the calling
// thread, so a run outside a namespace the test made would depend on the
// host's routes. Fixture.Run runs the program on a thread that stays in
// the fixture's namespace, with an xdp_md whose ingress device is the
// table's first link.
//
// For tests only: it imports testing, and a test of this package fails if
// any package's own code (tests aside) depends on it. It takes the program
// as a *ebpf.Program and knows nothing of the bpf package's loader, nor of
// rings or DNS.
//
// Where to start: fibtest.go (Table, New, Fixture.Run), then standard.go
// (Standard: the one table the program's tests share, with an address for
// each outcome of a route lookup).
package fibtest
