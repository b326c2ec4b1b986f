package bpf

import "fmt"

// Counter names one of the program's per-CPU counters.
type Counter int

// The counters, in the program's own order (generated from enum counter).
const (
	Redirect        = Counter(filterCounterCNT_REDIRECT)
	PassNotIP       = Counter(filterCounterCNT_PASS_NOT_IP)
	PassNotUDP      = Counter(filterCounterCNT_PASS_NOT_UDP)
	PassFragment    = Counter(filterCounterCNT_PASS_FRAGMENT)
	PassIPExt       = Counter(filterCounterCNT_PASS_IP_EXT)
	PassPort        = Counter(filterCounterCNT_PASS_PORT)
	PassAddr        = Counter(filterCounterCNT_PASS_ADDR)
	PassNotQuery    = Counter(filterCounterCNT_PASS_NOT_QUERY)
	PassNoSocket    = Counter(filterCounterCNT_PASS_NO_SOCKET)
	PassMalformed   = Counter(filterCounterCNT_PASS_MALFORMED)
	PassMartian     = Counter(filterCounterCNT_PASS_MARTIAN)
	PassElsewhere   = Counter(filterCounterCNT_PASS_ROUTED_ELSEWHERE)
	PassNoNeigh     = Counter(filterCounterCNT_PASS_NO_NEIGH)
	PassFwdDisabled = Counter(filterCounterCNT_PASS_FWD_DISABLED)
	PassNotFwded    = Counter(filterCounterCNT_PASS_NOT_FWDED)
	PassFragNeeded  = Counter(filterCounterCNT_PASS_FRAG_NEEDED)
	DropUnreachable = Counter(filterCounterCNT_DROP_UNREACHABLE)
	HotAnswer       = Counter(filterCounterCNT_HOT_ANSWER)
	NumCounters     = int(filterCounterCNT_MAX)
)

var counterNames = [NumCounters]string{
	Redirect:        "redirect",
	PassNotIP:       "not_ip",
	PassNotUDP:      "not_udp",
	PassFragment:    "fragment",
	PassIPExt:       "ipv6_ext",
	PassPort:        "other_port",
	PassAddr:        "other_address",
	PassNotQuery:    "not_query",
	PassNoSocket:    "no_socket",
	PassMalformed:   "malformed",
	PassMartian:     "martian",
	PassElsewhere:   "routed_elsewhere",
	PassNoNeigh:     "no_neigh",
	PassFwdDisabled: "fwd_disabled",
	PassNotFwded:    "not_fwded",
	PassFragNeeded:  "frag_needed",
	DropUnreachable: "unreachable",
	HotAnswer:       "hot_answer",
}

// String is the name used in metrics: "redirect", or the reason a frame was
// passed to the kernel (or, for the drops, dropped).
func (c Counter) String() string {
	if c < 0 || int(c) >= NumCounters {
		return fmt.Sprintf("counter(%d)", int(c))
	}
	return counterNames[c]
}

// Counters holds each counter summed over all CPUs.
type Counters [NumCounters]uint64

// Counters reads and sums the per-CPU counters. It is meant for a scrape or a
// test, not for the packet path.
func (f *Filter) Counters() (Counters, error) {
	var out Counters
	var perCPU []uint64
	for i := range out {
		if err := f.objs.Counters.Lookup(uint32(i), &perCPU); err != nil {
			return out, fmt.Errorf("reading XDP counter %s: %w", Counter(i), err)
		}
		for _, v := range perCPU {
			out[i] += v
		}
	}
	return out, nil
}

// Dropped says whether the program drops the frames it counts in c (all
// other reasons pass them to the kernel).
func (c Counter) Dropped() bool { return c == DropUnreachable }
