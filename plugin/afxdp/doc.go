// Package afxdp is the CoreDNS glue of the afxdp plugin: it reads the
// Corefile's afxdp directive, opens one datapath per named interface (the
// datapath package), hands each query that arrives there to the live
// *dnsserver.Server that owns its destination address and port, decides
// which server blocks answer repeated cache hits hot (the hot package) and
// where (the receive loop or the XDP program), and feeds CoreDNS's metrics.
// The reference for users (syntax, metrics, limitations) is this
// directory's README.md; the design notes are in the top README.md.
//
// # Layers
//
// This package composes the others and is the only one that knows CoreDNS.
// It imports datapath and hot, bpf (attach modes, counter names, the XDP
// tier's entries) and xsk (socket settings, the RX queue count) directly,
// and frame (the header of an inline answer) and route (the address watch).
// None of them may import it, nor CoreDNS, caddy or Prometheus: what they
// need from here comes in through datapath's Handler and InlineHandler
// interfaces (datapath/handler.go) and through plain arguments.
// internal/layers holds every package to its list of imports.
//
// # Reading order
//
// Read the files in this order, from the Corefile to the metrics; each
// step leans on the ones before it. The list names every file of the
// package but this one and its tests, and a test holds it to that.
//
// Corefile: what one server block's afxdp directive says.
//
//   - settings.go: a block's settings (datapath.Options, the hot mode,
//     hot_entries, the handover token) and their defaults.
//   - parse.go: the plugin's name and log, and the directive's parser
//     (parse, parseOption), which reads the settings and checks them.
//
// Settings: whether this process can give what a block asked for.
//
//   - privileges.go: the capabilities and the memlock limit the settings
//     need, checked at setup so that the Corefile line gets the error.
//
// Policy: which blocks answer hot, and where.
//
//   - eligible.go: the plugins that may run ahead of cache, and the cache
//     options under which a hot answer would differ from the chain's.
//   - hotpolicy.go: the hot decision, whole: a block's (blockPolicy,
//     policyOf, blockHot), an interface's XDP tier (tierFor) and a
//     listener's (decideListener). The rest reads its results.
//   - zoneroute.go: how a server routes a query name to its block
//     (zoneRoute), read from CoreDNS's server.
//
// Registry: interfaces shared across Corefile generations.
//
//   - listenkey.go: listener keys: a CoreDNS server's address:port.
//   - generation.go: what one loaded Corefile claims (interfaces, blocks,
//     listeners).
//   - addrwatch.go: the address watch that keeps wildcard listeners on the
//     interface's current addresses.
//   - listenbuf.go: the larger receive buffer the kernel listeners get for
//     the moments they answer alone (a handover, a reopen).
//   - wake.go: after a handover, waking the old process's blocked reader
//     on the listener it shares with the new one.
//   - handover.go: what a handover logs and counts.
//   - nicmetrics.go: what the interface's driver says it can do for XDP,
//     exported when the interface is opened.
//   - listener.go: a live server reached through an interface, and the
//     table that maps a query's destination to its listener: what the
//     registry keeps per interface and the serving path reads.
//   - registryplan.go: the registry's decisions that need no kernel: how
//     a changed claim reopens an interface, which destinations the filter
//     serves, which listeners wait for a reload's takeover.
//   - registry.go: the process-wide registry of interfaces: open, reopen
//     on changed settings, keep across reloads, hand over to or take over
//     from another process, release.
//   - bypass.go: the watch of a veth attached natively by xdp_mode auto:
//     when an eBPF CNI delivers past the driver (bpf_redirect_peer) and
//     only the kernel listener sees the queries, generic mode from then
//     on; the count of each server's kernel answers it reads.
//   - lifecycle.go: a generation's hooks: its hot decision at start, its
//     start, its servers' arrival, its stop.
//   - setup.go: the directive's registration and setup, which records the
//     block's claim on the Corefile's generation and installs the UDP
//     writer decorator through which CoreDNS hands over its live servers
//     (and which counts what their kernel sockets answer).
//
// Serving: from a frame to the chain's answer.
//
//   - bridge.go: the datapath's Handler and InlineHandler: a query goes to
//     its server's own ServeDNS, or is answered hot in the receive loop.
//   - writer.go: the dns.ResponseWriter whose answers leave through the TX
//     ring (addresses, TSIG, the hot table's fill).
//   - hotanswers.go: a listener's hot answers in the receive loop:
//     answering, filling from the chain's replies, flushing the counts
//     into CoreDNS's series.
//   - hotxdp.go: hot answers in the XDP program: the exporter that writes
//     the receive loop's entries into the program's table, and the
//     refresher that runs it for every interface.
//   - ready.go: afxdp's handler in the chain (the end of it) and the
//     ready plugin's question.
//
// Metrics: what is counted, and where it goes.
//
//   - metrics.go: the collector of the coredns_afxdp_* series read at
//     scrape time (datapath, XDP program and hot counters).
//   - hotmetrics.go: the CoreDNS series a hot answer moves, as a cache hit
//     through the chain would.
package afxdp
