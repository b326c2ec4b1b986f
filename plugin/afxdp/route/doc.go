// Package route is afxdp's view of the kernel's network state, read over
// rtnetlink and /proc/sys in the network namespace it was opened in: the
// local addresses, an interface's MACs and VLAN devices, a request that
// the kernel resolve a next hop, settings such as loopback forwarding, and
// a watch that says when links or addresses may have changed. The XDP
// program asks the kernel's FIB about each query itself; the kernel's
// input verdict (InputOK) is kept here as the oracle the end-to-end tests
// of rp_filter compare with.
//
// The name is the kernel's routing, not CoreDNS's zone routing (which
// server block answers a name: that is the glue's zoneRoute).
//
// # Layers
//
// It knows nothing of BPF, rings or DNS, and imports no other package of
// this module: the datapath asks it and tells the XDP program.
//
// # Where to start
//
// conn.go (Open: one rtnetlink socket and its requests), then addrs.go
// (LocalAddrs, Link), vlan.go (VLANs), resolve.go (Resolve: ask the kernel
// to resolve a next hop), sysctl.go (loopback forwarding), watch.go
// (Watch: links and addresses changing) and verdict.go (InputOK, the
// tests' oracle).
package route
