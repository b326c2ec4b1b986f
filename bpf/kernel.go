package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// XDP sees a frame before the kernel's input checks. What the program needs
// to mirror them (the interface's MACs, the namespace's local addresses, the
// reverse-path setting and the kernel's verdicts on IPv4 sources) is told to
// it here by user space, which reads it from the kernel.

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

// SetRPFilter sets the IPv4 reverse-path check (RPOff, RPStrict or RPLoose)
// and forgets every verdict. With RPOff no source is asked about.
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
// query sources.
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

// RouteRequest asks whether the kernel accepts IPv4 queries from Src to Dst
// on the filter's interface. Gen is the verdicts' generation it was asked in.
type RouteRequest struct {
	Src, Dst netip.Addr
	Gen      uint32
}

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
		s := r.rec.RawSample
		if len(s) < 12 {
			continue // never written by this program
		}
		return RouteRequest{
			Src: netip.AddrFrom4([4]byte(s[0:4])),
			Dst: netip.AddrFrom4([4]byte(s[4:8])),
			Gen: binary.NativeEndian.Uint32(s[8:12]),
		}, nil
	}
}

// Close makes a waiting Read return.
func (r *RouteReader) Close() error { return r.rd.Close() }

// SetRoute records the kernel's verdict on queries from src, asked in
// generation gen. A verdict from an older generation is dropped: what it
// was based on has changed since.
func (f *Filter) SetRoute(src netip.Addr, ok bool, gen uint32) error {
	if !src.Is4() {
		return fmt.Errorf("route verdict for %s: IPv4 only", src)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if gen != f.cfg.RouteGen {
		return nil
	}
	verdict := uint64(filterRouteVerdictROUTE_REJECT)
	if ok {
		verdict = uint64(filterRouteVerdictROUTE_OK)
	}
	b := src.As4()
	st := filterRouteState{State: uint64(gen)<<8 | verdict}
	if err := f.objs.Routes4.Put(binary.NativeEndian.Uint32(b[:]), &st); err != nil {
		return fmt.Errorf("recording route verdict for %s: %w", src, err)
	}
	return nil
}
