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

// XDP sees a frame before the kernel's input checks. The program mirrors
// the checks it can make alone (martian addresses, MACs, local sources)
// and asks the kernel's FIB, for every query, how the reply would be
// routed. What it needs from user space is told to it here: the
// interface's MACs, the namespace's local addresses and the devices the
// kernel delivers frames to. In return it asks user space to resolve next
// hops that have no neighbour entry yet.

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

// VLAN8021AD marks an 802.1ad tag in a Devices key.
const VLAN8021AD = 0x8000

// Device is where the kernel delivers a frame: the interface, its bridge
// or bond on a port, or the VLAN device over either for a tagged frame.
// A query is answered in place only if its reply's route leaves by it.
type Device struct {
	Index  int
	MAC    [6]byte // the reply's source
	Bridge bool    // a bridge: answer in place only to the MAC the query came from
}

// Devices maps a frame's VLAN tag (the VID, or'ed with VLAN8021AD for an
// 802.1ad tag; 0 untagged) to the device the kernel delivers it to.
type Devices map[uint16]Device

// SetDevices tells the program where the kernel delivers frames, by tag.
// A tag without a device is passed to the kernel (which drops it); until
// the untagged device is set, every query is.
func (f *Filter) SetDevices(d Devices) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for tag := range f.vlans {
		if _, ok := d[tag]; !ok || tag == 0 {
			if err := f.objs.Vlans.Delete(tag); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, fmt.Errorf("removing VLAN %d's device: %w", tag&0x0fff, err))
				continue
			}
			delete(f.vlans, tag)
		}
	}
	for tag, dev := range d {
		if tag == 0 {
			continue
		}
		if dev.Index <= 0 {
			errs = append(errs, fmt.Errorf("VLAN %d's device: no ifindex", tag&0x0fff))
			continue
		}
		if f.vlans[tag] == dev {
			continue
		}
		if err := f.objs.Vlans.Put(tag, delivery(dev)); err != nil {
			errs = append(errs, fmt.Errorf("adding VLAN %d's device: %w", tag&0x0fff, err))
			continue
		}
		f.vlans[tag] = dev
	}
	cfg := f.cfg
	cfg.Dev = delivery(d[0])
	if err := f.putConfig(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func delivery(d Device) filterDelivery {
	out := filterDelivery{Ifindex: uint32(d.Index), Mac: d.MAC}
	if d.Bridge {
		out.Bridge = 1
	}
	return out
}

func (f *Filter) putConfig(cfg filterFilterConfig) error {
	if err := f.objs.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("writing XDP filter config: %w", err)
	}
	f.cfg = cfg
	return nil
}

// SetLocalAddrs makes addrs the local addresses that the program refuses
// as query sources (counted as martians).
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

// NeighbourRequest asks user space to have the kernel resolve the next hop
// Addr on the device Index: a query's reply would go there, and the FIB
// found no usable neighbour entry for it.
type NeighbourRequest struct {
	Index int
	Addr  netip.Addr
}

// The request's layout (struct neigh_request).
const (
	reqAddr   = 0
	reqIndex  = 16
	reqFamily = 20
	reqLen    = 24
)

// NeighbourReader reads the program's neighbour requests.
type NeighbourReader struct {
	rd  *ringbuf.Reader
	rec ringbuf.Record
}

// NeighbourRequests opens a reader of the program's neighbour requests.
// One reader at a time.
func (f *Filter) NeighbourRequests() (*NeighbourReader, error) {
	rd, err := ringbuf.NewReader(f.objs.NeighRequests)
	if err != nil {
		return nil, fmt.Errorf("opening XDP neighbour requests: %w", err)
	}
	return &NeighbourReader{rd: rd}, nil
}

// Read waits for the next request. After Close it returns an error that
// matches os.ErrClosed.
func (r *NeighbourReader) Read() (NeighbourRequest, error) {
	for {
		if err := r.rd.ReadInto(&r.rec); err != nil {
			return NeighbourRequest{}, err
		}
		if req, ok := parseRequest(r.rec.RawSample); ok {
			return req, nil
		}
	}
}

// parseRequest reads a struct neigh_request; ok is false for anything
// this program never writes.
func parseRequest(s []byte) (req NeighbourRequest, ok bool) {
	if len(s) < reqLen {
		return req, false
	}
	switch s[reqFamily] {
	case 4:
		req.Addr = netip.AddrFrom4([4]byte(s[reqAddr : reqAddr+4]))
	case 6:
		req.Addr = netip.AddrFrom16([16]byte(s[reqAddr : reqAddr+16]))
	default:
		return req, false
	}
	req.Index = int(binary.NativeEndian.Uint32(s[reqIndex:]))
	return req, req.Index > 0
}

// Close makes a waiting Read return.
func (r *NeighbourReader) Close() error { return r.rd.Close() }
