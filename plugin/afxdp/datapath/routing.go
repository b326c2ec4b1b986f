package datapath

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/route"
)

// The program asks the kernel's FIB about every query's reply itself
// (bpf_fib_lookup); user space keeps no verdict per source. It tells the
// program where the kernel delivers frames (readDevices), and resolves
// the next hops the program finds without a neighbour entry.

// readDevices finds the device of untagged frames (the interface, or its
// bridge or bond on a port) and the VLAN devices over it.
func readDevices(conn *route.Conn, l route.Link) (bpf.Devices, error) {
	base := bpf.Device{Index: l.Index, MAC: mac6(l.MAC)}
	if l.Master != 0 {
		m, err := conn.Link(l.Master)
		if err != nil {
			return nil, err
		}
		if m.Kind == "bridge" || m.Kind == "bond" {
			base = bpf.Device{Index: m.Index, MAC: mac6(m.MAC), Bridge: m.Kind == "bridge"}
		}
	}
	vlans, err := conn.VLANs(base.Index)
	if err != nil {
		return nil, err
	}
	d := bpf.Devices{0: base}
	for _, v := range vlans {
		key := v.ID
		if v.AD {
			key |= bpf.VLAN8021AD
		}
		d[key] = bpf.Device{Index: v.Index, MAC: mac6(v.MAC), Bridge: base.Bridge}
	}
	return d, nil
}

func mac6(b net.HardwareAddr) (m [6]byte) {
	copy(m[:], b)
	return m
}

// resolveAgain is how long a next hop asked about is not asked about
// again: the kernel's probe (ARP or ND) takes about this long to answer,
// and the program asks on every query meanwhile (within its rate limit).
const resolveAgain = time.Second

// maxAsked bounds the next hops remembered within resolveAgain.
const maxAsked = 1 << 14

// asked remembers the next hops recently resolved, so that a burst of
// queries to one unresolved next hop costs one netlink request.
type asked struct {
	mu   sync.Mutex
	when map[bpf.NeighbourRequest]time.Time
}

// first says whether req was not asked about within resolveAgain of now,
// and records it.
func (a *asked) first(req bpf.NeighbourRequest, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.when[req]; ok && now.Sub(t) < resolveAgain {
		return false
	}
	if len(a.when) >= maxAsked {
		for k, t := range a.when {
			if now.Sub(t) >= resolveAgain {
				delete(a.when, k)
			}
		}
		if len(a.when) >= maxAsked {
			clear(a.when)
		}
	}
	a.when[req] = now
	return true
}

// forwarding is the loopback forwarding setting of one family: the FIB
// helper looks up only from a device that forwards, and it asks from
// loopback (as a local socket's reply does). On loopback the setting
// forwards nothing between real interfaces.
type forwarding struct {
	sysctl *route.Sysctl
	warned bool // this outage was reported
}

// openForwarding opens loopback's forwarding settings for the families
// this namespace has, and makes sure they are on: set them (policy
// ForwardingSet) or fail naming the setting (ForwardingKeep). It returns
// the settings it turned on.
func openForwarding(policy Forwarding) (fw []*forwarding, set []string, err error) {
	defer func() {
		if err != nil {
			closeForwarding(fw)
		}
	}()
	for _, fam := range []int{4, 6} {
		s, err := route.OpenSysctl(route.LoForwarding(fam))
		if fam == 6 && errors.Is(err, route.ErrNoSysctl) {
			continue // IPv6 is disabled here: nothing of it is served
		}
		if err != nil {
			return fw, set, err
		}
		fw = append(fw, &forwarding{sysctl: s})
		on, err := ensure(s, policy)
		if err != nil {
			return fw, set, err
		}
		if on {
			set = append(set, s.Name)
		}
	}
	return fw, set, nil
}

// ensure turns s on if it is off and the policy allows; changed says it did.
func ensure(s *route.Sysctl, policy Forwarding) (changed bool, err error) {
	v, err := s.Read()
	if err != nil || v != 0 {
		return false, err
	}
	if policy == ForwardingKeep {
		return false, &ForwardingOffError{Sysctl: s.Name}
	}
	return true, s.Write(1)
}

func closeForwarding(fw []*forwarding) {
	for _, f := range fw {
		f.sysctl.Close()
	}
}

// ForwardingOffError: loopback forwarding is off and afxdp was told to
// leave it alone. Without it the program can look up no route, and every
// query goes to the kernel.
type ForwardingOffError struct{ Sysctl string }

func (e *ForwardingOffError) Error() string {
	return e.Sysctl + " is 0: the XDP route check (bpf_fib_lookup from loopback) needs it 1; " +
		"set it, or let afxdp set it (forwarding set)"
}
