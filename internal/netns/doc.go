// Package netns makes network namespaces and veth links for tests, and runs
// code inside them. Everything it makes is removed in t.Cleanup, also when
// the test fails.
//
// For tests only: it imports testing, and no package's own code may import
// it. It knows nothing of XDP, AF_XDP or DNS: it makes the network, the
// tests put the program and the sockets on it.
//
// Where to start: netns.go (New: a namespace and its loopback; NS.Do runs
// code inside it; Veth links two), then testnet.go (NewNet: the project's
// one test network, client, server and upstream, built by run/testnet.sh's
// own functions so that the Go tests, `make run` and `make bench` share
// one definition).
package netns
