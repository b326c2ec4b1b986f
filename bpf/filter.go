package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// MaxQueues is the number of RX queues the filter can hand to sockets
// (the size of its XSKMAP).
const MaxQueues = 256

// Filter is one loaded instance of the XDP program with its own maps. Each
// interface gets its own Filter: nothing is pinned or shared, so a second
// process (or a second interface) can never overwrite this one's maps.
type Filter struct {
	objs filterObjects

	mu     sync.Mutex
	link   link.Link
	mode   Mode
	passed error          // why ModeAuto did not attach in native mode (nil if it did)
	ports  map[uint16]int // served port -> number of served addresses using it
	served map[netip.AddrPort]bool
	cfg    filterFilterConfig
	local  map[netip.Addr]bool
	vlans  map[uint16]Device // tagged delivering devices in the vlans map

	syncSpec *ebpf.MapSpec // hot_sync's inner map type, for HotTable.Sync
	hot      *HotTable     // mapped on first use
	hotMu    sync.RWMutex  // held (read) while the hot table is used; Close takes it
	closed   bool          // under hotMu
}

// Load loads the program and creates its maps. It needs CAP_BPF (or
// CAP_SYS_ADMIN); the error says so when the kernel refuses.
func Load() (*Filter, error) {
	f := &Filter{ports: make(map[uint16]int), served: make(map[netip.AddrPort]bool), local: make(map[netip.Addr]bool), vlans: make(map[uint16]Device)}
	spec, err := loadFilter()
	if err != nil {
		return nil, fmt.Errorf("loading the XDP filter: %w", err)
	}
	if err := CheckKernel(); err != nil {
		return nil, fmt.Errorf("loading the XDP filter: %w", err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("loading the XDP filter: counting CPUs: %w", err)
	}
	spec.Maps["hot_hits"].MaxEntries = uint32(ncpu * HotEntries) // a part per CPU
	if err := spec.LoadAndAssign(&f.objs, nil); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("loading the XDP filter: kernel lacks BPF support: %w", err)
		}
		return nil, fmt.Errorf("loading the XDP filter (needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or root): %w", err)
	}
	if spec.Maps["hot_sync"] == nil || spec.Maps["hot_sync"].InnerMap == nil {
		f.objs.Close()
		return nil, errors.New("loading the XDP filter: no hot sync map type")
	}
	f.syncSpec = spec.Maps["hot_sync"].InnerMap.Copy()
	return f, nil
}

// Program is the XDP program, for attaching elsewhere and for test runs.
func (f *Filter) Program() *ebpf.Program { return f.objs.XdpDns }

// Attach links the program to the interface with a bpf_link, so the kernel
// detaches it when the process dies, however it dies. ModeAuto tries native
// (driver) mode first and falls back to generic mode.
func (f *Filter) Attach(ifindex int, mode Mode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.link != nil {
		return errors.New("XDP filter is already attached")
	}
	try := []Mode{mode}
	if mode == ModeAuto {
		try = []Mode{ModeNative, ModeGeneric}
	}
	var errs []error
	for _, m := range try {
		l, err := link.AttachXDP(link.XDPOptions{Program: f.objs.XdpDns, Interface: ifindex, Flags: m.flags()})
		if err == nil {
			f.link, f.mode, f.passed = l, m, errors.Join(errs...)
			return nil
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", m, explainAttach(err)))
	}
	return fmt.Errorf("attaching XDP filter to ifindex %d: %w", ifindex, errors.Join(errs...))
}

// NativeRefused is why ModeAuto fell back to generic mode: the driver's
// answer to native, explained; nil when it attached natively or was not
// asked to choose.
func (f *Filter) NativeRefused() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.passed
}

// Mode is the attach mode in use (ModeAuto before Attach).
func (f *Filter) Mode() Mode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode
}

// Detach removes the program from the interface; the maps stay usable.
func (f *Filter) Detach() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.link == nil {
		return nil
	}
	err := f.link.Close()
	f.link = nil
	if err != nil {
		return fmt.Errorf("detaching XDP filter: %w", err)
	}
	return nil
}

// Close detaches the program and frees its maps.
func (f *Filter) Close() error {
	err := f.Detach()
	f.hotMu.Lock()
	f.closed = true
	f.mu.Lock()
	f.hot.close()
	f.hot = nil
	f.mu.Unlock()
	f.hotMu.Unlock()
	return errors.Join(err, f.objs.Close())
}

// SetSocket hands the frames of one RX queue to the AF_XDP socket fd.
func (f *Filter) SetSocket(queue, fd int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("queue %d out of range [0,%d)", queue, MaxQueues)
	}
	if err := f.objs.Xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("adding socket of queue %d to XSKMAP: %w", queue, err)
	}
	return nil
}

// ClearSocket makes the program pass that queue's queries to the kernel.
// Clearing a queue that has no socket is not an error.
func (f *Filter) ClearSocket(queue int) error {
	err := f.objs.Xsks.Delete(uint32(queue))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("removing socket of queue %d from XSKMAP: %w", queue, err)
	}
	return nil
}

// Serve starts redirecting UDP queries to addr:port.
func (f *Filter) Serve(addr netip.Addr, port uint16) error { return f.ServeAs(addr, port, 0) }

// ServeAs is Serve with the listener number the program keys hot answers
// by (0: none). Serving a served addr:port again changes its listener.
func (f *Filter) ServeAs(addr netip.Addr, port uint16, listener uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.putServed(addr, port, listener); err != nil {
		return err
	}
	if f.served[netip.AddrPortFrom(addr, port)] {
		return nil
	}
	f.served[netip.AddrPortFrom(addr, port)] = true
	if f.ports[port] == 0 {
		if err := f.objs.Ports.Put(be16(port), uint32(0)); err != nil {
			return fmt.Errorf("adding served port %d: %w", port, err)
		}
	}
	f.ports[port]++
	return nil
}

// Unserve stops redirecting queries to addr:port; they go to the kernel.
func (f *Filter) Unserve(addr netip.Addr, port uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.deleteServed(addr, port)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	delete(f.served, netip.AddrPortFrom(addr, port))
	if err != nil {
		return fmt.Errorf("removing served %s: %w", netip.AddrPortFrom(addr, port), err)
	}
	if f.ports[port]--; f.ports[port] <= 0 {
		delete(f.ports, port)
		if err := f.objs.Ports.Delete(be16(port)); err != nil {
			return fmt.Errorf("removing served port %d: %w", port, err)
		}
	}
	return nil
}

func (f *Filter) putServed(addr netip.Addr, port uint16, listener uint32) error {
	var err error
	switch {
	case addr.Is4():
		err = f.objs.Served4.Put(served4(addr, port), listener)
	case addr.Is6() && !addr.Is4In6():
		err = f.objs.Served6.Put(served6(addr, port), listener)
	default:
		return fmt.Errorf("cannot serve address %q", addr)
	}
	if err != nil {
		return fmt.Errorf("adding served %s: %w", netip.AddrPortFrom(addr, port), err)
	}
	return nil
}

func (f *Filter) deleteServed(addr netip.Addr, port uint16) error {
	if addr.Is4() {
		return f.objs.Served4.Delete(served4(addr, port))
	}
	return f.objs.Served6.Delete(served6(addr, port))
}

// The map keys hold addresses and ports in network byte order, as the packet
// does; the generated structs are host-layout, hence NativeEndian.
func served4(addr netip.Addr, port uint16) filterServed4Key {
	a := addr.As4()
	return filterServed4Key{Addr: binary.NativeEndian.Uint32(a[:]), Port: be16(port)}
}

func served6(addr netip.Addr, port uint16) filterServed6Key {
	return filterServed6Key{Addr: addr.As16(), Port: be16(port)}
}

func be16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
