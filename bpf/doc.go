// Package bpf loads the afxdp XDP filter, attaches it to an interface and
// keeps its maps: which queues have an AF_XDP socket, which addresses and
// ports are served, what it mirrors of the kernel's input checks (MACs,
// local addresses, the devices frames are delivered to: all told to it by
// its caller; the route back it asks the kernel's FIB itself, per query),
// the next hops it asks its caller to resolve, the hot answers it sends
// back itself (XDP_TX; the caller writes each entry's bytes, the program
// copies them behind the client's question), and what the program
// counted. The program reads the DNS header and question; the package
// knows nothing of rings, DNS libraries or CoreDNS, and imports none of
// the plugin's packages.
//
// Where to start: filter.go (Load, Attach, the maps the datapath sets),
// then xdp_dns.c (the program, top to bottom: checks, route_check, the
// redirect) and hot.h with hot.go (hot answers: the table in shared
// memory the program reads and HotTable writes). requirements.go is what
// a kernel must have (probed at Load); counters.go what the program
// counts; handover.go how a link passes between processes.
package bpf
