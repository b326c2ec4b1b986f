package route

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

// host is a namespace with two links: ra (198.18.0.1/24, fd00::1/64) towards
// a peer namespace, and rb (198.18.1.1/24) towards another, with no default
// route. conn and rp were opened inside it.
type host struct {
	ns, peer *netns.NS
	conn     *Conn
	a, b     Link
}

func newHost(t *testing.T) *host {
	priv.Require(t)
	h := &host{ns: netns.New(t, "rt"), peer: netns.New(t, "rtp")}
	other := netns.New(t, "rto")
	h.ns.Run("ip", "link", "add", "name", "ra", "type", "veth", "peer", "name", "pa", "netns", h.peer.Name)
	h.ns.Run("ip", "link", "add", "name", "rb", "type", "veth", "peer", "name", "pb", "netns", other.Name)
	h.ns.Run("ip", "addr", "add", "198.18.0.1/24", "dev", "ra")
	h.ns.Run("ip", "addr", "add", "fd00::1/64", "dev", "ra", "nodad")
	h.ns.Run("ip", "addr", "add", "198.18.1.1/24", "dev", "rb")
	h.ns.Run("ip", "link", "set", "ra", "up")
	h.ns.Run("ip", "link", "set", "rb", "up")
	h.peer.Run("ip", "link", "set", "pa", "up")
	other.Run("ip", "link", "set", "pb", "up")
	if err := h.ns.Do(func() (err error) {
		h.conn, err = Open()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.conn.Close() })
	h.a, h.b = h.link(t, "ra"), h.link(t, "rb")
	return h
}

func (h *host) link(t *testing.T, name string) Link {
	t.Helper()
	var idx int
	for _, l := range strings.Split(h.ns.Run("ip", "-o", "link", "show", name), "\n") {
		if i := strings.Index(l, ":"); i > 0 {
			idx = atoi(t, l[:i])
			break
		}
	}
	l, err := h.conn.Link(idx)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != name {
		t.Fatalf("link %d is %q, want %q", idx, l.Name, name)
	}
	return l
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestLocalAddrs(t *testing.T) {
	h := newHost(t)
	got, err := h.conn.LocalAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"127.0.0.1", "::1", "198.18.0.1", "198.18.0.255", "198.18.1.1", "198.18.1.255", "fd00::1"} {
		if !slices.Contains(got, netip.MustParseAddr(want)) {
			t.Errorf("local addresses %v lack %s", got, want)
		}
	}
	if slices.Contains(got, netip.MustParseAddr("198.18.0.2")) {
		t.Errorf("local addresses %v hold the peer's", got)
	}
}

func TestLink(t *testing.T) {
	h := newHost(t)
	mac := strings.TrimSpace(h.ns.Run("cat", "/sys/class/net/ra/address"))
	if h.a.MAC.String() != mac || h.a.MTU != 1500 || !h.a.Up || h.a.Master != 0 {
		t.Errorf("link a: %+v, want MAC %s, MTU 1500, up, no master", h.a, mac)
	}
	h.ns.Run("ip", "link", "add", "br0", "type", "bridge")
	h.ns.Run("ip", "link", "set", "ra", "master", "br0")
	br := h.link(t, "br0")
	if a := h.link(t, "ra"); a.Master != br.Index {
		t.Errorf("a's master is %d, want br0 (%d)", a.Master, br.Index)
	}
	if _, err := h.conn.Link(99999); err == nil {
		t.Error("reading a missing interface succeeded")
	}
}

// TestInputOK asks the kernel about sources under each rp_filter setting:
// its answer must be what it does with a real packet.
func TestInputOK(t *testing.T) {
	h := newHost(t)
	var all, dev *Sysctl
	if err := h.ns.Do(func() (err error) {
		if all, err = OpenSysctl("net.ipv4.conf.all.rp_filter"); err != nil {
			return err
		}
		dev, err = OpenSysctl("net.ipv4.conf.ra.rp_filter")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	defer dev.Close()
	server := netip.MustParseAddr("198.18.0.1")
	set := func(all, dev int) {
		h.ns.Run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter="+string(rune('0'+all)), "net.ipv4.conf.ra.rp_filter="+string(rune('0'+dev)))
	}
	cases := []struct {
		all, dev int
		src      string
		want     bool
	}{
		{1, 0, "198.18.0.2", true},    // on a's subnet
		{1, 0, "198.18.1.7", false},   // routes out of b: strict refuses
		{0, 1, "198.18.1.7", false},   // the larger value applies
		{2, 0, "198.18.1.7", true},    // loose: routable is enough
		{2, 0, "198.19.200.9", false}, // loose: no route at all
		{0, 0, "198.18.1.7", true},    // off
		{0, 0, "198.19.200.9", true},  // off
		{0, 0, "127.0.0.1", false},    // martian whatever the setting
		{0, 0, "198.18.1.1", false},   // a local address
		{0, 0, "224.0.0.5", false},    // multicast
	}
	for _, c := range cases {
		set(c.all, c.dev)
		a, err1 := all.Read()
		d, err2 := dev.Read()
		if err1 != nil || err2 != nil || a != c.all || d != c.dev {
			t.Errorf("rp_filter all=%d ra=%d: read %d, %d (%v, %v)", c.all, c.dev, a, d, err1, err2)
		}
		got, err := h.conn.InputOK(h.a.Index, netip.MustParseAddr(c.src), server)
		if err != nil {
			t.Errorf("rp_filter %d/%d, %s: %v", c.all, c.dev, c.src, err)
			continue
		}
		if got != c.want {
			t.Errorf("rp_filter all=%d a=%d: source %s accepted=%v, want %v", c.all, c.dev, c.src, got, c.want)
		}
	}
	if _, err := h.conn.InputOK(h.a.Index, netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::1")); err == nil {
		t.Error("an IPv6 question was answered")
	}
}

func TestWatch(t *testing.T) {
	h := newHost(t)
	changed := make(chan struct{}, 100)
	var w *Watcher
	if err := h.ns.Do(func() (err error) {
		w, err = Watch(Addrs|Routes|Links, func() { changed <- struct{}{} })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, cmd := range [][]string{
		{"ip", "addr", "add", "198.18.0.9/32", "dev", "ra"},
		{"ip", "route", "add", "198.19.201.0/24", "dev", "rb"},
		{"ip", "link", "set", "rb", "mtu", "1400"},
	} {
		for len(changed) > 0 {
			<-changed
		}
		h.ns.Run(cmd...)
		select {
		case <-changed:
		case <-time.After(2 * time.Second):
			t.Errorf("%v: no change announced", cmd)
		}
	}
}

func TestDirectedBroadcast(t *testing.T) {
	for _, c := range []struct {
		addr string
		bits int
		want string
	}{
		{"198.18.0.1", 24, "198.18.0.255"},
		{"198.18.5.9", 16, "198.18.255.255"},
		{"10.1.2.3", 8, "10.255.255.255"},
		{"198.18.0.1", 30, "198.18.0.3"},
		{"198.18.0.1", 31, ""},
		{"198.18.0.1", 32, ""},
		{"1.2.3.4", 0, "255.255.255.255"},
	} {
		got, ok := directedBroadcast(netip.MustParseAddr(c.addr), c.bits)
		if (c.want == "" && ok) || (c.want != "" && got.String() != c.want) {
			t.Errorf("%s/%d: %v %v, want %q", c.addr, c.bits, got, ok, c.want)
		}
	}
}

// TestSysctl reads and writes loopback's forwarding in a namespace of its
// own, through files opened there and used from another thread, and names
// a setting that does not exist.
func TestSysctl(t *testing.T) {
	h := newHost(t)
	var s *Sysctl
	if err := h.ns.Do(func() (err error) {
		s, err = OpenSysctl(LoForwarding(6))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h.ns.Run("sysctl", "-qw", "net.ipv6.conf.lo.forwarding=0")
	if v, err := s.Read(); err != nil || v != 0 {
		t.Fatalf("read %d, %v; want 0", v, err)
	}
	if err := s.Write(1); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(h.ns.Run("sysctl", "-n", "net.ipv6.conf.lo.forwarding")); got != "1" {
		t.Errorf("after Write(1) the namespace says %q", got)
	}
	if _, err := OpenSysctl("net.ipv4.conf.no-such-device.forwarding"); !errors.Is(err, ErrNoSysctl) {
		t.Errorf("a missing setting: %v, want ErrNoSysctl", err)
	}
}
