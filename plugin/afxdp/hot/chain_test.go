package hot

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/miekg/dns"
)

// This file builds the reference: a real CoreDNS server, in-process, whose
// chain is cache then a stub authoritative handler, with the cache's clock
// under the test's control, written to by a writer that packs the way
// plugin/afxdp/writer.go does.

// fakeClock is the cache's clock. Both its item.stored and the hit's now
// come from it, so TTLs are exact functions of the test's times.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// setCacheClock points the cache's unexported now at clk. The test is
// pinned to CoreDNS v1.15.0 (go.mod); a rename there fails here, loudly.
func setCacheClock(tb testing.TB, c *cache.Cache, now func() time.Time) {
	f := reflect.ValueOf(c).Elem().FieldByName("now")
	if !f.IsValid() || f.Type() != reflect.TypeFor[func() time.Time]() {
		tb.Fatal("cache.Cache has no field now func() time.Time: CoreDNS changed, update the test")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(now))
}

// Stub zone. TTLs: the cache caps nothing below an hour, so these are what
// items get (SERVFAIL: the cache's 5 s failttl).
const (
	soa = "test. 60 IN SOA ns.test. host.test. 1 7200 3600 1209600 60"
)

// stub is the authoritative handler behind the cache.
type stub struct{}

func (stub) Name() string { return "stub" }

func (stub) ServeDNS(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	add := func(sec *[]dns.RR, s string) {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		*sec = append(*sec, rr)
	}
	a := func(owner string) {
		if q.Qtype == dns.TypeA {
			add(&m.Answer, owner+" 300 IN A 192.0.2.1")
			add(&m.Answer, owner+" 300 IN A 192.0.2.2")
		} else {
			add(&m.Ns, soa)
		}
	}
	switch {
	case name == "small.test.":
		a("small.test.")
	case name == "echo.test.":
		a(q.Name) // the first querier's spelling ends up in the item
	case name == "alias.test.":
		add(&m.Answer, "alias.test. 120 IN CNAME small.test.")
		a("small.test.")
	case name == "nx.test.":
		m.Rcode = dns.RcodeNameError
		add(&m.Ns, soa)
	case name == "fail.test.":
		m.Rcode = dns.RcodeServerFailure
		add(&m.Ns, soa)
	case name == "failempty.test.":
		m.Rcode = dns.RcodeServerFailure
	case name == "sec.test.":
		m.Authoritative = false
		m.RecursionAvailable = true
		m.AuthenticatedData = true // a validating upstream's verdict
		a("sec.test.")
		if o := r.IsEdns0(); o != nil && o.Do() {
			add(&m.Answer, "sec.test. 300 IN RRSIG A 13 2 300 20990101000000 20200101000000 12345 test. AAAA")
		}
	case name == "extra.test.":
		add(&m.Extra, "extra.test. 30 IN A 192.0.2.9") // whoami style
	case strings.HasPrefix(name, "t") && strings.HasSuffix(name, ".test."):
		var n int
		if _, err := fmt.Sscanf(name, "t%d.test.", &n); err != nil {
			m.Rcode = dns.RcodeNameError
			add(&m.Ns, soa)
			break
		}
		m.RecursionAvailable = true
		txtOfLen(m, name, n)
	default:
		m.Rcode = dns.RcodeNameError
		add(&m.Ns, soa)
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// txtOfLen answers with two TXT records at owner sized so that the reply,
// without OPT, is exactly n bytes uncompressed. The owner repeats, so a
// compressed reply is shorter.
func txtOfLen(m *dns.Msg, owner string, n int) {
	hdr := dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 600}
	first := &dns.TXT{Hdr: hdr, Txt: []string{strings.Repeat("a", 100)}}
	second := &dns.TXT{Hdr: hdr, Txt: []string{""}}
	m.Answer = append(m.Answer, first, second)
	rest := n - m.Len() // the empty string's length octet is already counted
	for rest > 0 {
		l := min(rest, 255)
		second.Txt[len(second.Txt)-1] = strings.Repeat("b", l)
		rest -= l
		if rest > 0 {
			second.Txt = append(second.Txt, "")
			rest--
		}
	}
}

// chain is the reference server.
type chain struct {
	srv   *dnsserver.Server
	clk   *fakeClock
	cache *cache.Cache
	ctx   context.Context
}

func newChain(tb testing.TB) *chain {
	tb.Helper()
	c := cache.New()
	clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	setCacheClock(tb, c, clk.Now)
	cfg := &dnsserver.Config{Zone: ".", Port: "53", Transport: "dns", ListenHosts: []string{""},
		Plugin: []plugin.Plugin{
			func(next plugin.Handler) plugin.Handler { c.Next = next; return c },
			func(plugin.Handler) plugin.Handler { return stub{} },
		}}
	s, err := dnsserver.NewServer("dns://:53", []*dnsserver.Config{cfg})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, s)
	ctx = context.WithValue(ctx, dnsserver.LoopKey{}, 0)
	return &chain{srv: s, clk: clk, cache: c, ctx: ctx}
}

// chainWriter is plugin/afxdp/writer.go's WriteMsg without TSIG and the
// ring: pack, and truncate to the frame if it does not fit.
type chainWriter struct {
	remote *net.UDPAddr
	max    int
	msg    *dns.Msg
	wire   []byte
	writes int
}

func (w *chainWriter) WriteMsg(m *dns.Msg) error {
	data, err := m.Pack()
	if err != nil {
		return err
	}
	if len(data) > w.max {
		m.Truncate(w.max)
		if data, err = m.Pack(); err != nil {
			return err
		}
	}
	w.msg, w.wire = m, data
	w.writes++
	return nil
}

func (w *chainWriter) Write(b []byte) (int, error) { w.wire = b; w.writes++; return len(b), nil }
func (w *chainWriter) RemoteAddr() net.Addr        { return w.remote }
func (w *chainWriter) LocalAddr() net.Addr         { return server }
func (w *chainWriter) Close() error                { return nil }
func (w *chainWriter) TsigStatus() error           { return nil }
func (w *chainWriter) TsigTimersOnly(bool)         {}
func (w *chainWriter) Hijack()                     {}

var (
	server   = &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1), Port: 53}
	clientV4 = &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2), Port: 40000}
	clientV6 = &net.UDPAddr{IP: net.ParseIP("2001:db8::2"), Port: 40000}
)

// ask sends payload through the server as the afxdp bridge does (unpack,
// ServeDNS) and returns what was written, or an error if it does not unpack
// or nothing was written.
func (c *chain) ask(payload []byte, v6 bool, maxLen int) (*chainWriter, error) {
	m := new(dns.Msg)
	if err := m.Unpack(payload); err != nil {
		return nil, fmt.Errorf("query does not unpack: %w", err)
	}
	w := &chainWriter{remote: clientV4, max: maxLen}
	if v6 {
		w.remote = clientV6
	}
	c.srv.ServeDNS(c.ctx, w, m)
	if w.writes != 1 {
		return nil, fmt.Errorf("%d writes", w.writes)
	}
	return w, nil
}

// opt describes a query's OPT; nil for none.
type opt struct {
	size uint16
	ttl  uint32 // the whole TTL field: ext-rcode, version, DO, Z
}

// qspec is a query to build byte by byte.
type qspec struct {
	id         uint16
	name       string   // presentation, no escapes
	labels     [][]byte // instead of name: any bytes
	qtype      uint16
	rd, ad, cd bool
	z          bool // the header's Z bit
	opt        *opt
}

func (s qspec) wire() []byte {
	b := make([]byte, 12, 512)
	binary.BigEndian.PutUint16(b, s.id)
	if s.rd {
		b[2] |= 0x01
	}
	if s.z {
		b[3] |= 0x40
	}
	if s.ad {
		b[3] |= 0x20
	}
	if s.cd {
		b[3] |= 0x10
	}
	b[5] = 1
	labels := s.labels
	if labels == nil {
		for l := range strings.SplitSeq(strings.TrimSuffix(s.name, "."), ".") {
			if l != "" {
				labels = append(labels, []byte(l))
			}
		}
	}
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, s.qtype)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	if s.opt != nil {
		b[11] = 1
		b = append(b, 0)
		b = binary.BigEndian.AppendUint16(b, dns.TypeOPT)
		b = binary.BigEndian.AppendUint16(b, s.opt.size)
		b = binary.BigEndian.AppendUint32(b, s.opt.ttl)
		b = binary.BigEndian.AppendUint16(b, 0)
	}
	return b
}

// mixCase spells name in random 0x20 case.
func mixCase(r *rand.Rand, name string) string {
	b := []byte(name)
	for i, c := range b {
		if 'a' <= c && c <= 'z' && r.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// ttlFields returns the offsets of the TTL fields of the records, OPT
// aside, in an uncompressed reply.
func ttlFields(tb testing.TB, wire []byte) []int {
	tb.Helper()
	var at []int
	off := 12
	skipName := func() {
		for wire[off] != 0 {
			if wire[off]&0xc0 != 0 {
				tb.Fatalf("compressed name at %d in a hot reply", off)
			}
			off += 1 + int(wire[off])
		}
		off++
	}
	skipName()
	off += 4
	n := int(binary.BigEndian.Uint16(wire[6:])) + int(binary.BigEndian.Uint16(wire[8:])) + int(binary.BigEndian.Uint16(wire[10:]))
	for range n {
		skipName()
		if binary.BigEndian.Uint16(wire[off:]) != dns.TypeOPT {
			at = append(at, off+4)
		}
		off += 10 + int(binary.BigEndian.Uint16(wire[off+8:]))
	}
	if off != len(wire) {
		tb.Fatalf("hot reply: %d bytes after the records", len(wire)-off)
	}
	return at
}
