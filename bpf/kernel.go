package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// XDP sees a frame before the kernel's input checks. What the program needs
// to mirror them (the interface's MACs, the namespace's local addresses, the
// reverse-path setting and the kernel's verdicts on sources: its input check
// and the route back) is told to it here by user space, which reads it from
// the kernel.

// RPFilter modes, as in net.ipv4.conf.*.rp_filter.
const (
	RPOff    = 0
	RPStrict = 1
	RPLoose  = 2
)

// SetMACs tells the program the destination MACs that are this host's: the
// interface's own, and its bridge's (nil when it is not a bridge port).
// Until it is called every unicast frame counts as another host's.
func (f *Filter) SetMACs(own, master net.HardwareAddr) error {
	if len(own) != 6 || (master != nil && len(master) != 6) {
		return fmt.Errorf("setting MACs %v, %v: not Ethernet addresses", own, master)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := f.cfg
	copy(cfg.Mac[:], own)
	cfg.MasterMac = [6]byte{}
	copy(cfg.MasterMac[:], master)
	return f.putConfig(cfg)
}

// SetRPFilter records the kernel's IPv4 reverse-path setting (RPOff,
// RPStrict or RPLoose) and forgets every verdict: the kernel judges sources
// differently now.
func (f *Filter) SetRPFilter(mode int) error {
	if mode < RPOff || mode > RPLoose {
		return fmt.Errorf("rp_filter %d: want 0, 1 or 2", mode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := f.cfg
	cfg.RpFilter = uint32(mode)
	cfg.RouteGen++
	return f.putConfig(cfg)
}

// FlushRoutes forgets every route verdict: routes, addresses or links
// changed. Sources are asked about again as their queries arrive.
func (f *Filter) FlushRoutes() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := f.cfg
	cfg.RouteGen++
	return f.putConfig(cfg)
}

func (f *Filter) putConfig(cfg filterFilterConfig) error {
	if err := f.objs.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("writing XDP filter config: %w", err)
	}
	f.cfg = cfg
	return nil
}

// SetLocalAddrs makes addrs the local addresses that the program refuses as
// query sources. Adding one forgets every route verdict.
func (f *Filter) SetLocalAddrs(addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		want[a.Unmap()] = true
	}
	var errs []error
	for a := range f.local {
		if !want[a] {
			if err := f.localMap(a).Delete(localKey(a)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, fmt.Errorf("removing local address %s: %w", a, err))
				continue
			}
			delete(f.local, a)
		}
	}
	if err := f.forgetForNew(want); err != nil {
		return err
	}
	for a := range want {
		if f.local[a] {
			continue
		}
		if err := f.localMap(a).Put(localKey(a), uint8(1)); err != nil {
			errs = append(errs, fmt.Errorf("adding local address %s: %w", a, err))
			continue
		}
		f.local[a] = true
	}
	return errors.Join(errs...)
}

// forgetForNew starts a new generation of route verdicts before an address
// becomes local: the program checks only sources without an
// answer-in-place verdict against the local addresses.
func (f *Filter) forgetForNew(want map[netip.Addr]bool) error {
	for a := range want {
		if !f.local[a] {
			cfg := f.cfg
			cfg.RouteGen++
			return f.putConfig(cfg)
		}
	}
	return nil
}

func (f *Filter) localMap(a netip.Addr) *ebpf.Map {
	if a.Is4() {
		return f.objs.Local4
	}
	return f.objs.Local6
}

func localKey(a netip.Addr) any {
	if a.Is4() {
		b := a.As4()
		return binary.NativeEndian.Uint32(b[:])
	}
	return a.As16()
}

// VLAN8021AD marks an 802.1ad tag in RouteRequest.VLAN.
const VLAN8021AD = 0x8000

// RouteRequest asks how the kernel would treat a query from Src to Dst that
// arrived on the filter's interface with this VLAN tag (the VID, or'ed with
// VLAN8021AD for an 802.1ad tag; 0 untagged) from the MAC address MAC: its
// input check, and the route of the reply. Gen is the verdicts' generation
// it was asked in.
type RouteRequest struct {
	Src, Dst netip.Addr
	VLAN     uint16
	MAC      [6]byte
	Gen      uint32
}

// RouteVerdict is what the program does with a source's queries.
type RouteVerdict uint8

// The verdicts user space gives (the program's enum route_verdict).
const (
	// RouteOK: the reply's route leaves by the delivering device towards
	// the MAC the query came from. Answered in place.
	RouteOK = RouteVerdict(filterRouteVerdictROUTE_OK)
	// RouteOKVia: the same device, another next hop on it. Answered in
	// place, to Route.NextHop.
	RouteOKVia = RouteVerdict(filterRouteVerdictROUTE_OK_VIA)
	// RouteReject: the kernel's input check (rp_filter) refuses the source.
	RouteReject = RouteVerdict(filterRouteVerdictROUTE_REJECT)
	// RouteElsewhere: the reply leaves by another device, or has no route:
	// the kernel sends it.
	RouteElsewhere = RouteVerdict(filterRouteVerdictROUTE_ELSEWHERE)
	// RoutePending: not known yet (the next hop is being resolved). The
	// kernel answers meanwhile, whatever an older verdict said, and the
	// program asks again a second later.
	RoutePending = RouteVerdict(filterRouteVerdictROUTE_PENDING)
)

// Route is a verdict with, for RouteOK and RouteOKVia, the reply's MACs:
// the next hop's, and the delivering device's own as its source.
type Route struct {
	Verdict      RouteVerdict
	NextHop, Own [6]byte
}

// The request's layout (struct route_request).
const (
	reqSrc    = 0
	reqDst    = 16
	reqGen    = 32
	reqVLAN   = 36
	reqFamily = 38
	reqMAC    = 40
	reqLen    = 48
)

// RouteReader reads the program's route requests.
type RouteReader struct {
	rd  *ringbuf.Reader
	rec ringbuf.Record
}

// RouteRequests opens a reader of the program's route requests. One reader
// at a time.
func (f *Filter) RouteRequests() (*RouteReader, error) {
	rd, err := ringbuf.NewReader(f.objs.RouteRequests)
	if err != nil {
		return nil, fmt.Errorf("opening XDP route requests: %w", err)
	}
	return &RouteReader{rd: rd}, nil
}

// Read waits for the next request. After Close it returns an error that
// matches os.ErrClosed.
func (r *RouteReader) Read() (RouteRequest, error) {
	for {
		if err := r.rd.ReadInto(&r.rec); err != nil {
			return RouteRequest{}, err
		}
		if req, ok := parseRequest(r.rec.RawSample); ok {
			return req, nil
		}
	}
}

// parseRequest reads a struct route_request; ok is false for anything this
// program never writes.
func parseRequest(s []byte) (req RouteRequest, ok bool) {
	if len(s) < reqLen {
		return req, false
	}
	switch s[reqFamily] {
	case 4:
		req.Src = netip.AddrFrom4([4]byte(s[reqSrc : reqSrc+4]))
		req.Dst = netip.AddrFrom4([4]byte(s[reqDst : reqDst+4]))
	case 6:
		req.Src = netip.AddrFrom16([16]byte(s[reqSrc : reqSrc+16]))
		req.Dst = netip.AddrFrom16([16]byte(s[reqDst : reqDst+16]))
	default:
		return req, false
	}
	req.Gen = binary.NativeEndian.Uint32(s[reqGen:])
	req.VLAN = binary.NativeEndian.Uint16(s[reqVLAN:])
	req.MAC = [6]byte(s[reqMAC : reqMAC+6])
	return req, true
}

// Close makes a waiting Read return.
func (r *RouteReader) Close() error { return r.rd.Close() }

// SetRoute records the verdict on queries like req's (from its source,
// with its VLAN tag). A verdict for an older generation than the current
// one is dropped: what it was based on has changed since.
func (f *Filter) SetRoute(req RouteRequest, r Route) error {
	switch r.Verdict {
	case RouteOK, RouteOKVia, RouteReject, RouteElsewhere, RoutePending:
	default:
		return fmt.Errorf("route verdict %d for %s: unknown", r.Verdict, req.Src)
	}
	if req.Src.Is6() && r.Verdict == RouteReject {
		return fmt.Errorf("route verdict for %s: IPv6 has no reverse-path filter", req.Src)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Gen != f.cfg.RouteGen {
		return nil
	}
	st := filterRouteState{State: uint64(req.Gen)<<8 | uint64(r.Verdict)}
	switch r.Verdict {
	case RouteOK, RouteOKVia:
		st.NextHop, st.Own = r.NextHop, r.Own
	case RoutePending: // asked just now: the program's clock
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			return fmt.Errorf("route verdict for %s: reading the clock: %w", req.Src, err)
		}
		st.Asked = uint64(ts.Nano())
	}
	var err error
	if req.Src.Is4() {
		b := req.Src.As4()
		err = f.objs.Routes4.Put(filterRouteKey4{Addr: binary.NativeEndian.Uint32(b[:]), Vlan: req.VLAN}, &st)
	} else {
		err = f.objs.Routes6.Put(filterRouteKey6{Addr: req.Src.As16(), Vlan: req.VLAN}, &st)
	}
	if err != nil {
		return fmt.Errorf("recording route verdict for %s: %w", req.Src, err)
	}
	return nil
}
