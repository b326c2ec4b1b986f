// Package datapath runs one interface's AF_XDP datapath: the XDP filter, a
// socket per RX queue, the loops that receive query frames and the pool of
// workers that hand them to a Handler, which answers through the TX ring.
// It also keeps what the filter knows of the kernel current (MACs, local
// addresses, the devices frames are delivered to, next hops to resolve,
// loopback forwarding), hands a queue to the kernel listener while its
// slots are held by blocked misses (a handoff), and claims the interface
// for this process, handing it over to or taking it over from another
// afxdp process (a handover).
//
// # Layers
//
// It composes bpf (the XDP program and its maps), xsk (the sockets and
// their rings), frame (the Ethernet/IP/UDP headers) and route (the
// kernel's network state), and nothing above them: it must never know a
// DNS library or CoreDNS. A Handler gets a Request, a decoded header and
// the UDP payload as bytes, and replies with bytes; the CoreDNS glue
// (plugin/afxdp) is one Handler, the tests use plain Go handlers.
//
// # Where to start
//
// handler.go holds the interfaces a caller implements or is handed
// (Handler, InlineHandler, Sender, Request). Then interface.go (Open,
// Reopen, Reclaim, Serve, Close: one interface's life), queue.go (the
// receive loop of one queue, inline answers, the TX side, the handoff to
// the kernel listener) and pool.go (the slots and the workers that run the
// Handler). mirror.go and routing.go keep the filter's view of the kernel;
// owner.go (one process per interface), handover.go (the protocol) and
// takeover.go (both sides of a handover) move an interface between
// processes. options.go and stats.go are the settings and the counters.
package datapath
