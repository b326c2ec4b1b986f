package fibtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/netns"
)

// Kind is a route's type.
type Kind uint8

const (
	Unicast     Kind = iota // out of Dev, to Via or to the destination itself
	Blackhole               // dropped silently
	Unreachable             // dropped with host unreachable
	Prohibit                // dropped with administratively prohibited
	Throw                   // the lookup goes on in the next table (none here: no route)
	Local                   // a local address (table local; implied by Link.Addrs)
	Broadcast               // an IPv4 directed broadcast (table local; implied)
)

var kindNames = [...]string{"unicast", "blackhole", "unreachable", "prohibit", "throw", "local", "broadcast"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Link is a veth device of the namespace (its peer, NAME-p, is up and has
// no address).
type Link struct {
	Name  string
	MAC   [6]byte
	Addrs []netip.Prefix // the device's addresses with their prefix lengths
}

// Route is one route. The kernel adds the connected, local and broadcast
// routes of Link.Addrs itself; Table.FIB lists them with the declared ones.
type Route struct {
	Prefix netip.Prefix
	Kind   Kind
	Dev    string     // Unicast: the device it leaves by
	Via    netip.Addr // Unicast: the next hop (invalid: the destination is on the link)
	MTU    int        // Unicast: a locked route MTU (mtu lock N); 0: none
	Table  string     // "main", or "local" for the implied local and broadcast routes
}

// Neigh is a permanent neighbour entry.
type Neigh struct {
	Dev  string
	Addr netip.Addr
	MAC  [6]byte
}

// Table declares the namespace: its links, routes and neighbours.
type Table struct {
	Links  []Link
	Routes []Route // in table main
	Neighs []Neigh
}

// LinkMTU is every link's MTU (veth's default).
const LinkMTU = 1500

// FIB is every route the kernel holds for t that a lookup of a query's
// source can end in: the declared routes and those the links' addresses
// imply (connected prefixes in main; local addresses and IPv4 directed
// broadcasts in local). Loopback's, link-local and multicast routes are
// left out: the program never asks about those sources.
func (t *Table) FIB() []Route {
	var out []Route
	for _, l := range t.Links {
		for _, p := range l.Addrs {
			out = append(out,
				Route{Prefix: p.Masked(), Kind: Unicast, Dev: l.Name, Table: "main"},
				Route{Prefix: netip.PrefixFrom(p.Addr(), p.Addr().BitLen()), Kind: Local, Dev: l.Name, Table: "local"})
			if b, ok := broadcast(p); ok {
				out = append(out, Route{Prefix: netip.PrefixFrom(b, 32), Kind: Broadcast, Dev: l.Name, Table: "local"})
			}
		}
	}
	for _, r := range t.Routes {
		r.Table = "main"
		out = append(out, r)
	}
	return out
}

// broadcast is the directed broadcast address of an IPv4 prefix that has
// one (the kernel adds none for /31 and /32).
func broadcast(p netip.Prefix) (netip.Addr, bool) {
	if !p.Addr().Is4() || p.Bits() >= 31 {
		return netip.Addr{}, false
	}
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// LocalAddrs are the namespace's addresses and IPv4 directed broadcasts:
// what user space tells the program (bpf.Filter.SetLocalAddrs).
func (t *Table) LocalAddrs() []netip.Addr {
	var out []netip.Addr
	for _, l := range t.Links {
		for _, p := range l.Addrs {
			out = append(out, p.Addr())
			if b, ok := broadcast(p); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

// Link is the declared link of that name.
func (t *Table) Link(name string) (Link, bool) {
	for _, l := range t.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// Fixture is a namespace built from a Table, with a thread inside it that
// runs programs.
type Fixture struct {
	NS    *netns.NS
	Table *Table

	index map[string]int
	work  chan func()
	bulk4 uint32 // AddRoutes's next candidates
	bulk6 uint64
}

// New builds t in a new namespace: links up, addresses without DAD,
// forwarding on loopback (the FIB helper asks from loopback and refuses
// to look up when it is off), the routes and permanent neighbours. It is
// removed in tb.Cleanup.
func New(tb testing.TB, t *Table) *Fixture {
	tb.Helper()
	if len(t.Links) == 0 {
		tb.Fatal("fibtest: a table without links")
	}
	f := &Fixture{NS: netns.New(tb, "fib"), Table: t, index: map[string]int{}}
	var b strings.Builder
	for _, l := range t.Links {
		fmt.Fprintf(&b, "link add %s address %s type veth peer name %s-p\n", l.Name, mac(l.MAC), l.Name)
		fmt.Fprintf(&b, "link set %s-p up\nlink set %s up\n", l.Name, l.Name)
		for _, p := range l.Addrs {
			if p.Addr().Is6() {
				fmt.Fprintf(&b, "addr add %s dev %s nodad\n", p, l.Name)
			} else {
				fmt.Fprintf(&b, "addr add %s dev %s\n", p, l.Name)
			}
		}
	}
	for _, r := range t.Routes {
		line, err := routeLine(r)
		if err != nil {
			tb.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	for _, n := range t.Neighs {
		fmt.Fprintf(&b, "neigh replace %s lladdr %s dev %s nud permanent\n", n.Addr, mac(n.MAC), n.Dev)
	}
	f.sysctl(tb, "net.ipv6.conf.all.disable_ipv6", "0")
	f.batch(tb, b.String())
	f.SetForwarding(tb, true)
	for _, l := range t.Links {
		f.index[l.Name] = linkIndex(tb, f.NS, l.Name)
	}
	f.start(tb)
	return f
}

func mac(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// routeLine is r as a line of ip -batch.
func routeLine(r Route) (string, error) {
	switch r.Kind {
	case Unicast:
		s := "route add " + r.Prefix.String()
		if r.Via.IsValid() {
			s += " via " + r.Via.String()
		}
		if r.Dev == "" {
			return "", fmt.Errorf("fibtest: unicast route %s without a device", r.Prefix)
		}
		s += " dev " + r.Dev
		if r.MTU > 0 {
			s += fmt.Sprintf(" mtu lock %d", r.MTU)
		}
		return s, nil
	case Blackhole, Unreachable, Prohibit, Throw:
		return fmt.Sprintf("route add %s %s", r.Kind, r.Prefix), nil
	}
	return "", fmt.Errorf("fibtest: cannot declare a %s route (%s): the kernel adds those", r.Kind, r.Prefix)
}

// batch runs ip -batch on the lines inside the namespace.
func (f *Fixture) batch(tb testing.TB, lines string) {
	tb.Helper()
	file, err := os.CreateTemp("", "fibtest-*.batch")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.Remove(file.Name())
	w := bufio.NewWriter(file)
	w.WriteString(lines)
	if err := errors.Join(w.Flush(), file.Close()); err != nil {
		tb.Fatal(err)
	}
	f.NS.Run("ip", "-batch", file.Name())
}

func (f *Fixture) sysctl(tb testing.TB, key, value string) {
	tb.Helper()
	f.NS.Run("sysctl", "-q", "-w", key+"="+value)
}

// SetForwarding turns forwarding on loopback on or off, for both
// families. Off, the FIB helper answers FWD_DISABLED to every lookup.
func (f *Fixture) SetForwarding(tb testing.TB, on bool) {
	tb.Helper()
	v := "0"
	if on {
		v = "1"
	}
	f.sysctl(tb, "net.ipv4.conf.lo.forwarding", v)
	f.sysctl(tb, "net.ipv6.conf.lo.forwarding", v)
}

// Exec runs an ip command (the arguments after "ip") inside the
// namespace and fails tb if it fails; for changes between runs.
func (f *Fixture) Exec(tb testing.TB, args ...string) string {
	tb.Helper()
	return f.NS.Run(append([]string{"ip"}, args...)...)
}

func linkIndex(tb testing.TB, ns *netns.NS, name string) int {
	tb.Helper()
	out := ns.Run("cat", "/sys/class/net/"+name+"/ifindex")
	var i int
	if _, err := fmt.Sscan(out, &i); err != nil || i <= 0 {
		tb.Fatalf("ifindex of %s: %q: %v", name, out, err)
	}
	return i
}

// Index is the ifindex of a declared link.
func (f *Fixture) Index(name string) int {
	i, ok := f.index[name]
	if !ok {
		panic("fibtest: no link " + name)
	}
	return i
}

// start starts the thread that runs programs inside the namespace. It
// never leaves it: it ends, and the runtime kills it, at cleanup.
func (f *Fixture) start(tb testing.TB) {
	tb.Helper()
	f.work = make(chan func())
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // for good: the thread dies with the goroutine
		ns, err := os.Open("/run/netns/" + f.NS.Name)
		if err == nil {
			err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
			ns.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for fn := range f.work {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		tb.Fatalf("entering namespace %s: %v", f.NS.Name, err)
	}
	tb.Cleanup(func() { close(f.work) })
}

// Do runs fn on the fixture's thread, inside the namespace.
func (f *Fixture) Do(fn func() error) error {
	errc := make(chan error, 1)
	f.work <- func() { errc <- fn() }
	return <-errc
}

// xdpMD is struct xdp_md as BPF_PROG_TEST_RUN takes it: data 0 and
// data_meta 0 (no metadata), data_end the frame's length, the ingress
// device and its RX queue.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Context is the xdp_md of a run of frame arriving on the table's first
// link, queue 0.
func (f *Fixture) Context(frame []byte) any {
	return &xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(f.Index(f.Table.Links[0].Name))}
}

// Run runs prog as ebpf.Program.Run does, inside the namespace, with
// Context set to the frame's (opts.Context must be nil).
func (f *Fixture) Run(prog *ebpf.Program, opts *ebpf.RunOptions) (uint32, error) {
	if opts.Context != nil {
		return 0, errors.New("fibtest: Run sets the context itself")
	}
	opts.Context = f.Context(opts.Data)
	defer func() { opts.Context = nil }()
	var ret uint32
	err := f.Do(func() error {
		var err error
		ret, err = prog.Run(opts)
		return err
	})
	return ret, err
}

// Bench runs prog repeat times on frame inside the namespace and returns
// the last verdict and the kernel's time per run (what
// ebpf.Program.Benchmark gives, which cannot pass a context). A run
// interrupted by a signal is made again.
func (f *Fixture) Bench(prog *ebpf.Program, frame []byte, repeat int) (uint32, time.Duration, error) {
	ctx := f.Context(frame).(*xdpMD)
	var ret uint32
	var d time.Duration
	err := f.Do(func() error {
		var err error
		ret, d, err = progRun(prog.FD(), frame, ctx, uint32(repeat))
		return err
	})
	return ret, d, err
}

// progRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr.
type progRunAttr struct {
	ProgFD      uint32
	Retval      uint32
	DataSizeIn  uint32
	DataSizeOut uint32
	DataIn      uint64
	DataOut     uint64
	Repeat      uint32
	Duration    uint32
	CtxSizeIn   uint32
	CtxSizeOut  uint32
	CtxIn       uint64
	CtxOut      uint64
	Flags       uint32
	CPU         uint32
	BatchSize   uint32
	_           uint32
}

const bpfProgTestRun = 10 // BPF_PROG_TEST_RUN

func progRun(fd int, frame []byte, ctx *xdpMD, repeat uint32) (uint32, time.Duration, error) {
	if len(frame) == 0 {
		return 0, 0, errors.New("fibtest: an empty frame")
	}
	for {
		attr := progRunAttr{
			ProgFD:     uint32(fd),
			DataSizeIn: uint32(len(frame)),
			DataIn:     uint64(uintptr(unsafe.Pointer(&frame[0]))),
			Repeat:     repeat,
			CtxSizeIn:  uint32(unsafe.Sizeof(*ctx)),
			CtxIn:      uint64(uintptr(unsafe.Pointer(ctx))),
		}
		_, _, errno := unix.Syscall(unix.SYS_BPF, bpfProgTestRun, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(frame)
		runtime.KeepAlive(ctx)
		switch errno {
		case 0:
			return attr.Retval, time.Duration(attr.Duration), nil
		case unix.EINTR:
			continue
		}
		return 0, 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", errno)
	}
}

// Kernel reads the routes the kernel holds, in FIB's form (link-local,
// multicast and loopback routes left out), for checking a table against
// what the kernel made of it.
func (f *Fixture) Kernel(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		out = append(out, parseRoutes(tb, f.NS.Run("ip", "-j", fam, "route", "show", "table", "all"), fam == "-6")...)
	}
	return out
}

// KernelNeighs reads the namespace's permanent neighbours, as "dev addr mac".
func (f *Fixture) KernelNeighs(tb testing.TB) []string {
	tb.Helper()
	return parseNeighs(tb, f.NS.Run("ip", "-j", "neigh", "show", "nud", "permanent"))
}

// String is a route as Kernel lists it.
func (r Route) String() string {
	s := fmt.Sprintf("%s %s table %s", r.Kind, r.Prefix, r.Table)
	if r.Kind == Unicast || r.Kind == Local || r.Kind == Broadcast {
		s += " dev " + r.Dev
	}
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	return s
}

// AddRoutes adds n routes of each family to table main, as a full BGP
// table would fill it, and says how long that took. They stay inside the
// test ranges: IPv6 /64s out of fd00::/8 and IPv4 /32s out of
// 198.18.0.0/15, each via the next hop of the first declared route via a
// router on the table's first link, and none inside a prefix the table
// uses; only 2^17 IPv4 addresses exist there, so the IPv4 part stops
// short of large n (v4 says how many it added). Another call adds
// others. For benchmarks.
func (f *Fixture) AddRoutes(tb testing.TB, n int) (v4, v6 int, took time.Duration) {
	tb.Helper()
	var gw4, gw6 netip.Addr
	dev := f.Table.Links[0].Name
	for _, r := range f.Table.Routes {
		if r.Kind != Unicast || r.Dev != dev || !r.Via.IsValid() {
			continue
		}
		if r.Via.Is4() && !gw4.IsValid() {
			gw4 = r.Via
		}
		if r.Via.Is6() && !gw6.IsValid() {
			gw6 = r.Via
		}
	}
	if !gw4.IsValid() || !gw6.IsValid() {
		tb.Fatalf("fibtest: no router of both families on %s to route through", dev)
	}
	used := f.Table.FIB()
	taken := func(a netip.Addr) bool {
		for _, r := range used {
			if r.Prefix.Bits() > 0 && r.Prefix.Contains(a) {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	// A fixed spread of addresses (a multiplicative hash of the count):
	// not in address order, the same every time.
	space4 := uint32(1 << 17)
	for ; v4 < n && f.bulk4 < space4; f.bulk4++ {
		i := f.bulk4
		x := (i * 40503) % space4 // 40503 is odd: a permutation of the space
		a := netip.AddrFrom4([4]byte{198, 18 + byte(x>>16), byte(x >> 8), byte(x)})
		if taken(a) {
			continue
		}
		fmt.Fprintf(&b, "route add %s/32 via %s dev %s\n", a, gw4, dev)
		v4++
	}
	for ; v6 < n; f.bulk6++ {
		x := (f.bulk6 + 1) * 0x9e3779b97f4a7c15 // a permutation of 64-bit counts
		var a [16]byte
		a[0] = 0xfd
		for j := 1; j < 8; j++ {
			a[j] = byte(x >> (8 * (7 - j)))
		}
		addr := netip.AddrFrom16(a)
		if taken(addr) {
			continue
		}
		fmt.Fprintf(&b, "route add %s/64 via %s dev %s\n", addr, gw6, dev)
		v6++
	}
	start := time.Now()
	f.batch(tb, b.String())
	return v4, v6, time.Since(start)
}

type kernelRoute struct {
	Type    string `json:"type"`
	Dst     string `json:"dst"`
	Gateway string `json:"gateway"`
	Dev     string `json:"dev"`
	Table   string `json:"table"`
}

func parseRoutes(tb testing.TB, js string, v6 bool) []string {
	tb.Helper()
	var rs []kernelRoute
	if err := json.Unmarshal([]byte(js), &rs); err != nil {
		tb.Fatalf("ip -j route: %v\n%s", err, js)
	}
	var out []string
	for _, kr := range rs {
		p, err := parseDst(kr.Dst, v6)
		if err != nil {
			tb.Fatalf("ip -j route: %v", err)
		}
		r := Route{Prefix: p, Dev: kr.Dev, Table: kr.Table}
		if r.Table == "" {
			r.Table = "main"
		}
		switch kr.Type {
		case "", "unicast":
			r.Kind = Unicast
		case "multicast":
			continue
		default:
			k := -1
			for i, n := range kindNames {
				if n == kr.Type {
					k = i
				}
			}
			if k < 0 {
				out = append(out, kr.Type+" "+p.String()+" (unknown type)")
				continue
			}
			r.Kind = Kind(k)
		}
		lo := kr.Dev == "lo" && (r.Kind == Unicast || r.Kind == Local || r.Kind == Broadcast)
		if lo || p.Addr().IsLinkLocalUnicast() {
			continue // loopback's own routes, link-local ones
		}
		if kr.Gateway != "" {
			if r.Via, err = netip.ParseAddr(kr.Gateway); err != nil {
				tb.Fatalf("ip -j route: %v", err)
			}
		}
		out = append(out, r.String())
	}
	return out
}

// parseDst reads a route's dst as ip -j writes it.
func parseDst(s string, v6 bool) (netip.Prefix, error) {
	if s == "default" {
		if v6 {
			return netip.MustParsePrefix("::/0"), nil
		}
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

func parseNeighs(tb testing.TB, js string) []string {
	tb.Helper()
	var ns []struct {
		Dst    string `json:"dst"`
		Dev    string `json:"dev"`
		LLAddr string `json:"lladdr"`
	}
	if err := json.Unmarshal([]byte(js), &ns); err != nil {
		tb.Fatalf("ip -j neigh: %v\n%s", err, js)
	}
	var out []string
	for _, n := range ns {
		out = append(out, n.Dev+" "+n.Dst+" "+n.LLAddr)
	}
	return out
}

// NeighStrings are the declared neighbours in KernelNeighs's form.
func (t *Table) NeighStrings() []string {
	var out []string
	for _, n := range t.Neighs {
		out = append(out, n.Dev+" "+n.Addr.String()+" "+mac(n.MAC))
	}
	return out
}
