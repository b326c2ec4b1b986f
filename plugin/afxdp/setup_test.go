package afxdp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/pkg/transport"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/internal/priv"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

// withOpts returns the default options changed by f.
func withOpts(f func(o *datapath.Options)) datapath.Options {
	o := datapath.DefaultOptions()
	f(&o)
	return o
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		ifaces []string
		opts   datapath.Options
	}{
		{"minimal", "afxdp lo", []string{"lo"}, datapath.DefaultOptions()},
		{"empty block", "afxdp lo {\n}", []string{"lo"}, datapath.DefaultOptions()},
		{"every option", `afxdp lo {
	queues 0 1 3
	xdp_mode generic
	bind_mode copy
	frames 16384
	frame_size 4096
	ring_size 4096
	batch 128
	workers 32
	pending 256
}`, []string{"lo"}, datapath.Options{
			Queues:     []int{0, 1, 3},
			XDPMode:    bpf.ModeGeneric,
			Socket:     xsk.Config{Frames: 16384, FrameSize: 4096, RingSize: 4096, Bind: xsk.BindCopy},
			Batch:      128,
			MaxWorkers: 32,
			MaxPending: 256,
		}},
		{"queues all", "afxdp lo {\n\tqueues all\n}", []string{"lo"}, datapath.DefaultOptions()},
		{"queues all after a list", "afxdp lo {\n\tqueues all\n}", []string{"lo"}, datapath.DefaultOptions()},
		{"queues list", "afxdp lo {\n\tqueues 0 1 3\n}", []string{"lo"},
			withOpts(func(o *datapath.Options) { o.Queues = []int{0, 1, 3} })},
		{"queues highest", "afxdp lo {\n\tqueues 255\n}", []string{"lo"},
			withOpts(func(o *datapath.Options) { o.Queues = []int{bpf.MaxQueues - 1} })},
		{"xdp_mode native", "afxdp lo {\n\txdp_mode native\n}", []string{"lo"},
			withOpts(func(o *datapath.Options) { o.XDPMode = bpf.ModeNative })},
		{"xdp_mode auto", "afxdp lo {\n\txdp_mode auto\n}", []string{"lo"}, datapath.DefaultOptions()},
		{"bind_mode zerocopy", "afxdp lo {\n\tbind_mode zerocopy\n}", []string{"lo"},
			withOpts(func(o *datapath.Options) { o.Socket.Bind = xsk.BindZeroCopy })},
		{"bind_mode auto", "afxdp lo {\n\tbind_mode auto\n}", []string{"lo"}, datapath.DefaultOptions()},
		{"smallest rings", "afxdp lo {\n\tring_size 64\n\tframes 128\n\tbatch 64\n\tpending 64\n}", []string{"lo"},
			withOpts(func(o *datapath.Options) {
				o.Socket.RingSize, o.Socket.Frames, o.Batch, o.MaxPending = 64, 128, 64, 64
			})},
		{"workers 1", "afxdp lo {\n\tworkers 1\n}", []string{"lo"},
			withOpts(func(o *datapath.Options) { o.MaxWorkers = 1 })},
		{"handover", "afxdp lo {\n\thandover node-local-dns\n}", []string{"lo"},
			withOpts(func(o *datapath.Options) { o.Takeover.Token = "node-local-dns" })},
		{"forwarding keep", "afxdp lo {\n\tforwarding keep\n}", []string{"lo"},
			withOpts(func(o *datapath.Options) { o.Forwarding = datapath.ForwardingKeep })},
		{"forwarding set", "afxdp lo {\n\tforwarding set\n}", []string{"lo"}, datapath.DefaultOptions()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			ifaces, set, _, err := parse(c)
			if err != nil {
				t.Fatalf("parse(%q): %v", tc.input, err)
			}
			opts := set.opts
			if !reflect.DeepEqual(ifaces, tc.ifaces) {
				t.Errorf("interfaces = %q, want %q", ifaces, tc.ifaces)
			}
			if !reflect.DeepEqual(opts, tc.opts) {
				t.Errorf("options = %+v, want %+v", opts, tc.opts)
			}
		})
	}
}

// TestParseQueuesAll checks that "all" is nil, which datapath reads as every
// queue, and not an empty list.
func TestParseQueuesAll(t *testing.T) {
	_, set, _, err := parse(caddy.NewTestController("dns", "afxdp lo {\n\tqueues all\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if set.opts.Queues != nil {
		t.Errorf("queues all: Queues = %#v, want nil", set.opts.Queues)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		line  int    // as caddy reports it: "Testfile:<line> - Error during parsing: "
		cause string // a phrase naming the cause
	}{
		{"no interface", "afxdp", 1, "needs at least one interface name"},
		{"no interface before block", "\n\nafxdp {\n\tqueues all\n}", 3, "needs at least one interface name"},
		{"unknown interface", "# comment\n\nafxdp lo nosuch0", 3, `unknown interface "nosuch0"`},
		{"interface twice", "\nafxdp lo lo", 2, "interface lo named twice"},
		{"unknown option", "afxdp lo {\n\tframes 8192\n\tbogus 1\n}", 3, `unknown option "bogus"`},
		{"unknown option without value", "afxdp lo {\n\tbatch 32\n\tbogus\n}", 3, "option bogus needs a value"},
		{"option without value", "afxdp lo {\n\tbatch 32\n\tworkers\n}", 3, "option workers needs a value"},
		{"queues without value", "afxdp lo {\n\n\tqueues\n}", 3, "option queues needs a value"},
		{"frames not a number", "afxdp lo {\n\tbatch 32\n\tframes lots\n}", 3, `frames: "lots" is not a positive number`},
		{"frames zero", "afxdp lo {\n\tbatch 32\n\tframes 0\n}", 3, `frames: "0" is not a positive number`},
		{"frame_size negative", "afxdp lo {\n\tbatch 32\n\tframe_size -2048\n}", 3, `frame_size: "-2048" is not a positive number`},
		{"ring_size not a number", "afxdp lo {\n\tbatch 32\n\tring_size 2k\n}", 3, `ring_size: "2k" is not a positive number`},
		{"batch zero", "afxdp lo {\n\tframes 8192\n\tbatch 0\n}", 3, `batch: "0" is not a positive number`},
		{"workers negative", "afxdp lo {\n\tbatch 32\n\tworkers -1\n}", 3, `workers: "-1" is not a positive number`},
		{"pending zero", "afxdp lo {\n\tbatch 32\n\tpending 0\n}", 3, `pending: "0" is not a positive number`},
		{"pending fraction", "afxdp lo {\n\tbatch 32\n\tpending 1.5\n}", 3, `pending: "1.5" is not a positive number`},
		{"option twice", "afxdp lo {\n\tbatch 32\n\tframes 8192\n\tbatch 64\n}", 4, "option batch given twice, on lines 2 and 4"},
		{"hot_entries past the cap", "afxdp lo {\n\thot_entries 2000000\n}", 2, `hot_entries: hot_entries 2000000: at most 1048576`},
		{"two numbers", "afxdp lo {\n\tframes 8192\n\tbatch 32 64\n}", 3, "batch: takes one value, got 2"},
		{"bad xdp_mode", "afxdp lo {\n\tbatch 32\n\txdp_mode turbo\n}", 3, `xdp_mode: unknown XDP mode "turbo"`},
		{"two xdp_modes", "afxdp lo {\n\tbatch 32\n\txdp_mode native generic\n}", 3, "xdp_mode: takes one value, got 2"},
		{"handover with a control character", "afxdp lo {\n\tbatch 32\n\thandover \"a\tb\"\n}", 3, `handover: "a\tb": want up to 256 printable ASCII characters`},
		{"handover twice", "afxdp lo {\n\tbatch 32\n\thandover a b\n}", 3, "handover: takes one value, got 2"},
		{"bad forwarding", "afxdp lo {\n\tbatch 32\n\tforwarding on\n}", 3, `forwarding: "on": want set or keep`},
		{"bad bind_mode", "afxdp lo {\n\tbatch 32\n\tbind_mode fast\n}", 3, `bind_mode: unknown bind mode "fast"`},
		{"two bind_modes", "afxdp lo {\n\tbatch 32\n\tbind_mode copy zerocopy\n}", 3, "bind_mode: takes one value, got 2"},
		{"duplicate queue", "afxdp lo {\n\tbatch 32\n\tqueues 0 1 0\n}", 3, "queues: queue 0 named twice"},
		{"queue 999", "afxdp lo {\n\tbatch 32\n\tqueues 1 999\n}", 3, `queues: "999" is not a queue number in [0, 256)`},
		{"queue 256", "afxdp lo {\n\tbatch 32\n\tqueues 256\n}", 3, `queues: "256" is not a queue number`},
		{"queue negative", "afxdp lo {\n\tbatch 32\n\tqueues -1\n}", 3, `queues: "-1" is not a queue number`},
		{"queues all with a number", "afxdp lo {\n\tbatch 32\n\tqueues all 1\n}", 3, `queues: "all" is not a queue number`},
		{"afxdp twice", "afxdp lo {\n\tbatch 32\n}\nafxdp lo", 4, "afxdp may appear once per server block"},

		// A value wrong on its own is reported on its option's line.
		{"frame_size 3000", "afxdp lo {\n\tbatch 32\n\tframe_size 3000\n}", 3, "frame size 3000: must be 2048 or 4096"},
		{"ring_size 100", "afxdp lo {\n\tbatch 32\n\tring_size 100\n}", 3, "ring size 100: must be a power of two"},
		{"ring_size 32", "afxdp lo {\n\tbatch 32\n\tring_size 32\n}", 3, "ring size 32: must be a power of two in [64, 65536]"},
		{"ring_size 131072", "afxdp lo {\n\tframes 1048576\n\tring_size 131072\n}", 3, "ring size 131072: must be a power of two in [64, 65536]"},
		{"too many frames", "afxdp lo {\n\tbatch 32\n\tframes 2000000\n}", 3, "2000000 frames: at most 1048576"},

		// Settings valid alone but not together are reported on the
		// directive's line.
		{"frames below 2x ring", "afxdp lo {\n\tring_size 1024\n\tframes 2047\n}", 1, "2047 frames: need at least 2x the ring size (2048)"},
		{"frames below 2x default ring", "afxdp lo {\n\tbatch 32\n\tframes 4095\n}", 1, "4095 frames: need at least 2x the ring size (4096)"},
		{"batch above ring", "afxdp lo {\n\tring_size 64\n\tframes 128\n\tbatch 65\n}", 1, "batch 65: must be in [1, ring size 64]"},
		{"pending below batch", "afxdp lo {\n\tbatch 32\n\tpending 31\n}", 1, "pending 31: must be at least the batch (32)"},
		{"pending below default batch", "\nafxdp lo {\n\tpending 63\n}", 2, "pending 63: must be at least the batch (64)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			ifaces, _, _, err := parse(c)
			if err == nil {
				t.Fatalf("parse(%q) = %q, nil; want an error", tc.input, ifaces)
			}
			if ifaces != nil {
				t.Errorf("parse(%q) returned interfaces %q with an error", tc.input, ifaces)
			}
			msg := err.Error()
			if want := fmt.Sprintf("Testfile:%d - Error during parsing: ", tc.line); !strings.HasPrefix(msg, want) {
				t.Errorf("error %q does not start with %q", msg, want)
			}
			if !strings.Contains(msg, tc.cause) {
				t.Errorf("error %q does not contain %q", msg, tc.cause)
			}
		})
	}
}

// canServe skips a test that runs setup to its end when this process could
// not open an AF_XDP socket; TestPrivileges asserts it can as root.
func canServe(t *testing.T) {
	t.Helper()
	priv.Require(t)
	if err := checkPrivileges(datapath.DefaultOptions(), 1); err != nil {
		if os.Getenv(priv.CIEnv) == "1" {
			t.Fatalf("cannot run setup past checkPrivileges: %v", err)
		}
		t.Skipf("cannot run setup past checkPrivileges: %v", err)
	}
}

func TestSetupRefusesOtherTransports(t *testing.T) {
	for _, tr := range []string{transport.TLS, transport.HTTPS, transport.HTTPS3, transport.GRPC, transport.QUIC, ""} {
		t.Run(tr, func(t *testing.T) {
			c := caddy.NewTestController("dns", "\nafxdp lo")
			cfg := dnsserver.GetConfig(c)
			cfg.Transport = tr
			if got := dnsserver.GetConfig(c); got != cfg {
				t.Fatal("GetConfig on a test controller does not return the same config twice")
			}
			err := setup(c)
			if err == nil {
				t.Fatalf("setup accepted a %s:// server block", tr)
			}
			want := fmt.Sprintf("plugin/afxdp: Testfile:2 - Error during parsing: serves plain DNS over UDP; this server block uses %s://", tr)
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			if cfg.UDPDecorateWriterFunc != nil {
				t.Error("a refused block still set a UDP writer decorator")
			}
			if _, ok := c.Get(generationKey{}).(*generation); ok {
				t.Error("a refused block made a generation")
			}
		})
	}
}

func TestSetupParseError(t *testing.T) {
	c := caddy.NewTestController("dns", "afxdp lo {\n\tbogus 1\n}")
	dnsserver.GetConfig(c).Transport = transport.DNS
	err := setup(c)
	want := `plugin/afxdp: Testfile:2 - Error during parsing: unknown option "bogus"`
	if err == nil || err.Error() != want {
		t.Fatalf("setup error = %v, want %q", err, want)
	}
}

func TestSetupClaims(t *testing.T) {
	canServe(t)
	c := caddy.NewTestController("dns", "afxdp lo {\n\tqueues 0\n}")
	cfg := dnsserver.GetConfig(c)
	cfg.Transport = transport.DNS
	var prevCalled *dnsserver.Server
	cfg.UDPDecorateWriterFunc = func(s *dnsserver.Server) dns.DecorateWriter {
		prevCalled = s
		return nil
	}
	if err := setup(c); err != nil {
		t.Fatalf("setup: %v", err)
	}
	g, ok := c.Get(generationKey{}).(*generation)
	if !ok {
		t.Fatal("setup made no generation")
	}
	if len(g.claims) != 1 {
		t.Fatalf("claims = %v, want one for lo", g.claims)
	}
	cl := g.claims["lo"]
	if cl == nil {
		t.Fatal("no claim for lo")
	}
	if cl.name != "lo" || !reflect.DeepEqual(cl.opts.Queues, []int{0}) || len(cl.configs) != 1 || cl.configs[0] != cfg {
		t.Errorf("claim = %+v, want lo with queues [0] and the block's config", cl)
	}
	// setup records the directive's line.
	if cl.where != "Testfile:1" {
		t.Errorf("claim.where = %q, want %q", cl.where, "Testfile:1")
	}
	if cfg.UDPDecorateWriterFunc == nil {
		t.Fatal("setup set no UDP writer decorator")
	}
	// The decorator must chain the one set before; with no listener known
	// yet (start has not run) it only counts the kernel socket's answers.
	s := &dnsserver.Server{Addr: "dns://:53"}
	dw := cfg.UDPDecorateWriterFunc(s)
	if prevCalled != s {
		t.Error("the previous UDP writer decorator was not called with the server")
	}
	if dw == nil {
		t.Fatal("no writer decorator: the kernel socket's answers go uncounted")
	}
	w := &addrWriter{addr: &net.UDPAddr{IP: net.ParseIP("198.18.0.2"), Port: 4000}}
	if _, err := dw(w).Write([]byte{1}); err != nil || w.n != 1 {
		t.Fatalf("decorated write: %v, %d bytes reached the socket", err, w.n)
	}
	if n, last := g.kernelOf(s).read(); n != 1 || last != netip.MustParseAddr("198.18.0.2") {
		t.Errorf("kernel answers %d, last client %s; want 1 from 198.18.0.2", n, last)
	}
}

// addrWriter is the kernel socket's writer of one query, as miekg/dns
// hands it to a decorator: it knows the client.
type addrWriter struct {
	addr net.Addr
	n    int
}

func (w *addrWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *addrWriter) RemoteAddr() net.Addr        { return w.addr }

func TestSetupTwoBlocksShareGeneration(t *testing.T) {
	canServe(t)
	c := caddy.NewTestController("dns", "afxdp lo")
	cfg := dnsserver.GetConfig(c)
	cfg.Transport = transport.DNS
	if err := setup(c); err != nil {
		t.Fatalf("setup: %v", err)
	}
	made, ok := c.Get(generationKey{}).(*generation)
	if !ok {
		t.Fatal("setup made no generation")
	}
	// Every server block of one Corefile shares the instance, so later
	// blocks find the generation setup made and claim into it.
	g := generationOf(c)
	if g != made {
		t.Fatal("generationOf made a second generation for one instance")
	}
	cfg2 := &dnsserver.Config{Transport: transport.DNS}
	if err := g.claim("lo", withOpts(func(o *datapath.Options) { o.Batch = 32 }), cfg2, "Testfile:9"); err == nil ||
		!strings.Contains(err.Error(), "first at Testfile:1") {
		t.Errorf("conflicting second claim: err = %v, want one naming Testfile:1", err)
	}
}

func TestSetupGenerationClaim(t *testing.T) {
	cfg1, cfg2, cfg3 := &dnsserver.Config{}, &dnsserver.Config{}, &dnsserver.Config{}
	g := &generation{claims: map[string]*claim{}}
	opts := withOpts(func(o *datapath.Options) { o.Queues = []int{0, 1} })

	if err := g.claim("lo", opts, cfg1, "Corefile:3"); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	// Identical settings, a separately built Queues slice.
	same := withOpts(func(o *datapath.Options) { o.Queues = []int{0, 1} })
	if err := g.claim("lo", same, cfg2, "Corefile:9"); err != nil {
		t.Fatalf("second claim with identical settings: %v", err)
	}
	cl := g.claims["lo"]
	if cl.where != "Corefile:3" {
		t.Errorf("where = %q after a second claim, want the first's %q", cl.where, "Corefile:3")
	}
	if len(cl.configs) != 2 || cl.configs[0] != cfg1 || cl.configs[1] != cfg2 {
		t.Errorf("configs = %v, want both blocks' in order", cl.configs)
	}

	diff := withOpts(func(o *datapath.Options) { o.Queues = []int{0, 1}; o.MaxWorkers = 7 })
	err := g.claim("lo", diff, cfg3, "Corefile:15")
	if err == nil {
		t.Fatal("claim with different settings accepted")
	}
	want := "interface lo claimed twice with different settings (first at Corefile:3)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if len(cl.configs) != 2 {
		t.Errorf("a refused claim was recorded: %d configs", len(cl.configs))
	}
	if cl.opts.MaxWorkers != opts.MaxWorkers {
		t.Errorf("a refused claim changed the options: workers %d", cl.opts.MaxWorkers)
	}

	// Another interface is independent.
	if err := g.claim("eth9", diff, cfg3, "Corefile:15"); err != nil {
		t.Fatalf("claim of another interface: %v", err)
	}
	if len(g.claims) != 2 || g.claims["eth9"].where != "Corefile:15" {
		t.Errorf("claims = %v, want lo and eth9", g.claims)
	}
}

func TestSetupSameOptions(t *testing.T) {
	def := datapath.DefaultOptions()
	tests := []struct {
		name string
		b    datapath.Options
		same bool
	}{
		{"defaults", datapath.DefaultOptions(), true},
		{"empty queue list is all", withOpts(func(o *datapath.Options) { o.Queues = []int{} }), true},
		{"queues vs all", withOpts(func(o *datapath.Options) { o.Queues = []int{0} }), false},
		{"xdp mode", withOpts(func(o *datapath.Options) { o.XDPMode = bpf.ModeGeneric }), false},
		{"frames", withOpts(func(o *datapath.Options) { o.Socket.Frames *= 2 }), false},
		{"frame size", withOpts(func(o *datapath.Options) { o.Socket.FrameSize = 4096 }), false},
		{"ring size", withOpts(func(o *datapath.Options) { o.Socket.RingSize = 1024 }), false},
		{"bind mode", withOpts(func(o *datapath.Options) { o.Socket.Bind = xsk.BindCopy }), false},
		{"batch", withOpts(func(o *datapath.Options) { o.Batch++ }), false},
		{"workers", withOpts(func(o *datapath.Options) { o.MaxWorkers++ }), false},
		{"pending", withOpts(func(o *datapath.Options) { o.MaxPending++ }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := def.Equal(tc.b); got != tc.same {
				t.Errorf("Equal(defaults, %+v) = %v, want %v", tc.b, got, tc.same)
			}
			if got := tc.b.Equal(def); got != tc.same {
				t.Errorf("Equal(%+v, defaults) = %v, want %v", tc.b, got, tc.same)
			}
		})
	}

	queues := []struct {
		a, b []int
		same bool
	}{
		{[]int{0, 1, 3}, []int{0, 1, 3}, true},
		{[]int{0, 1, 3}, []int{0, 1}, false},
		{[]int{0, 1}, []int{0, 2}, false},
		{[]int{5}, nil, false},
	}
	for _, q := range queues {
		a := withOpts(func(o *datapath.Options) { o.Queues = q.a })
		b := withOpts(func(o *datapath.Options) { o.Queues = q.b })
		if got := a.Equal(b); got != q.same {
			t.Errorf("Equal with queues %v and %v = %v, want %v", q.a, q.b, got, q.same)
		}
	}
}
