package main

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/internal/priv"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

// TestProgramHelpers: the redirect program calls bpf_redirect_map and
// nothing else (this kernel refuses bpf_xdp_adjust_meta).
func TestProgramHelpers(t *testing.T) {
	ins, err := replyProgram(fakeMap{}, 53)
	if err != nil {
		t.Fatal(err)
	}
	var calls []asm.BuiltinFunc
	for _, i := range ins {
		if i.IsBuiltinCall() {
			calls = append(calls, asm.BuiltinFunc(i.Constant))
		}
	}
	if len(calls) != 1 || calls[0] != asm.FnRedirectMap {
		t.Errorf("helpers %v, want only bpf_redirect_map", calls)
	}
}

type fakeMap struct{}

func (fakeMap) FD() int { return 3 }

// TestProgramVerdicts runs the program on frames (BPF_PROG_TEST_RUN) with
// a bound socket in its XSKMAP slot 0: replies from the server port are
// redirected, everything else passes.
func TestProgramVerdicts(t *testing.T) {
	priv.Require(t)
	a, b := netns.New(t, "ga"), netns.New(t, "gb")
	netns.Veth(t, a, "veth-a", b, "veth-b", 1)
	var r *redirector
	var s *xsk.Socket
	if err := a.Do(func() (err error) {
		if r, err = newRedirector(53); err != nil {
			return err
		}
		nif, err := net.InterfaceByName("veth-a")
		if err != nil {
			return err
		}
		if s, err = xsk.Open(nif.Index, 0, xsk.DefaultConfig); err != nil {
			return err
		}
		return r.add(0, s.FD())
	}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer r.Close()
	srv4, cli4 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.19.0.9")
	srv6, cli6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00:19::9")
	body := make([]byte, 40)
	body[2] = 0x80
	const redirect, pass = 4, 2
	for _, c := range []struct {
		name string
		f    []byte
		want uint32
	}{
		{"IPv4 reply", pkt.Frame{SrcIP: srv4, DstIP: cli4, SrcPort: 53, DstPort: 4000, Payload: body}.Build(), redirect},
		{"IPv6 reply", pkt.Frame{SrcIP: srv6, DstIP: cli6, SrcPort: 53, DstPort: 4000, Payload: body}.Build(), redirect},
		{"IPv4 other port", pkt.Frame{SrcIP: srv4, DstIP: cli4, SrcPort: 54, DstPort: 4000, Payload: body}.Build(), pass},
		{"IPv6 other port", pkt.Frame{SrcIP: srv6, DstIP: cli6, SrcPort: 54, DstPort: 4000, Payload: body}.Build(), pass},
		{"IPv4 to port 53", pkt.Frame{SrcIP: srv4, DstIP: cli4, SrcPort: 4000, DstPort: 53, Payload: body}.Build(), pass},
		{"IPv4 fragment", pkt.Frame{SrcIP: srv4, DstIP: cli4, FragOff: 0x2000, SrcPort: 53, DstPort: 4000, Payload: body}.Build(), pass},
		{"IPv4 options", pkt.Frame{SrcIP: srv4, DstIP: cli4, IPOptions: []byte{1, 1, 1, 0}, SrcPort: 53, DstPort: 4000, Payload: body}.Build(), pass},
		{"TCP", pkt.Frame{SrcIP: srv4, DstIP: cli4, Proto: 6, SrcPort: 53, DstPort: 4000, Payload: body}.Build(), pass},
		{"ARP", pkt.Frame{EtherType: 0x0806, SrcIP: srv4, DstIP: cli4, Payload: body}.Build(), pass},
		{"VLAN", pkt.Frame{VLANs: []uint16{0x8100}, SrcIP: srv4, DstIP: cli4, SrcPort: 53, DstPort: 4000, Payload: body}.Build(), pass},
		{"short IPv4", pkt.Frame{SrcIP: srv4, DstIP: cli4, SrcPort: 53, DstPort: 4000}.Build()[:14+20+4], pass},
		{"short IPv6", pkt.Frame{SrcIP: srv6, DstIP: cli6, SrcPort: 53, DstPort: 4000}.Build()[:14+40+4], pass},
	} {
		ret, err := r.prog.Run(&ebpf.RunOptions{Data: c.f})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ret != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, ret, c.want)
		}
	}
}

// TestRun is the generator end to end: a veth between two namespaces, a
// plain DNS server on the kernel's UDP socket in one, the generator in the
// other sending 2,000 queries/s for a second from 256 sources routed back
// through the client's address. Every query must be answered, and the
// generator's counts must equal the server's.
func TestRun(t *testing.T) {
	priv.Require(t)
	n := netns.NewNet(t, 1, false)
	n.Srv.Run("ip", "route", "add", "198.19.0.0/24", "via", netns.Cli4.Addr().String(), "dev", "veth-s")
	n.Srv.Run("ip", "-6", "route", "add", "fd00:19::/120", "via", netns.Cli6.Addr().String(), "dev", "veth-s")

	var queries atomic.Int64
	var mu sync.Mutex
	clients := map[netip.Addr]int{}
	var pc net.PacketConn
	var srvMAC net.HardwareAddr
	if err := n.Srv.Do(func() (err error) {
		nif, err := net.InterfaceByName("veth-s")
		if err != nil {
			return err
		}
		srvMAC = nif.HardwareAddr
		pc, err = net.ListenPacket("udp", ":53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	server := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		queries.Add(1)
		ap, _ := netip.ParseAddrPort(w.RemoteAddr().String())
		mu.Lock()
		clients[ap.Addr().Unmap()]++
		mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 18, 9, 9)})
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	server.NotifyStartedFunc = func() { close(started) }
	go server.ActivateAndServe()
	<-started
	defer server.Shutdown()

	// The server's MAC as the command finds it: solicited, then read from
	// the neighbour table (ARP and NDP pass the client's XDP program).
	for _, a := range []netip.Addr{netns.Srv4.Addr(), netns.Srv6.Addr()} {
		var mac net.HardwareAddr
		if err := n.Cli.Do(func() (err error) { mac, err = neighbour("veth-c", a); return err }); err != nil || mac.String() != srvMAC.String() {
			t.Errorf("neighbour %s: %s, %v; want %s", a, mac, err, srvMAC)
		}
	}

	qs, err := nameQueries(100, "example.org.", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		server  netip.Addr
		sources string
		streams []StreamConfig
		first   int
	}{
		{"IPv4", netns.Srv4.Addr(), "198.19.0.0/24", nil, 0},
		{"IPv6", netns.Srv6.Addr(), "fd00:19::/120", nil, 137}, // -first past the end: modulo
		{"streams", netns.Srv4.Addr(), "198.19.0.0/24", []StreamConfig{
			{Sources: netip.MustParsePrefix("198.19.0.0/25"), Rate: 1500},
			{Sources: netip.MustParsePrefix("198.19.0.128/25"), Rate: 500},
		}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			queries.Store(0)
			mu.Lock()
			clear(clients)
			mu.Unlock()
			streams := c.streams
			if streams == nil {
				streams = []StreamConfig{{Sources: netip.MustParsePrefix(c.sources), Rate: 2000}}
			}
			cfg := Config{Iface: "veth-c", DstMAC: srvMAC, Server: c.server, Port: 53, Queries: qs,
				Streams: streams,
				SportLo: 1024, SportHi: 65535, Seed: 1, Duration: time.Second, Timeout: 2 * time.Second, Idle: 20 * time.Microsecond,
				First: c.first}
			var g *Gen
			if err := n.Cli.Do(func() (err error) { g, err = Open(cfg); return err }); err != nil {
				t.Fatal(err)
			}
			res := g.Run()
			g.Close()
			t.Logf("%+v", res)
			if res.Sent < 1900 || res.Sent > 2001 {
				t.Errorf("sent %d in 1 s at 2,000/s", res.Sent)
			}
			if res.Answered != res.Sent || res.Lost != 0 || res.Unmatched != 0 || res.Rcodes["NOERROR"] != res.Sent {
				t.Errorf("sent %d, answered %d, lost %d, unmatched %d, rcodes %v", res.Sent, res.Answered, res.Lost, res.Unmatched, res.Rcodes)
			}
			if got := uint64(queries.Load()); got != res.Sent {
				t.Errorf("server counted %d queries, generator sent %d", got, res.Sent)
			}
			// Asked in turn from -first: the next run continues there.
			if want := int((uint64(c.first) + res.Sent) % uint64(len(qs))); res.NextQuery != want {
				t.Errorf("next query %d after %d sent from %d, want %d", res.NextQuery, res.Sent, c.first, want)
			}
			mu.Lock()
			defer mu.Unlock()
			pfx := netip.MustParsePrefix(c.sources)
			for a := range clients {
				if !pfx.Contains(a) {
					t.Errorf("query from %s, outside %s", a, pfx)
				}
			}
			if len(clients) != 256 {
				t.Errorf("%d distinct sources, want 256", len(clients))
			}
			if len(streams) > 1 {
				if len(res.Streams) != len(streams) {
					t.Fatalf("%d stream results for %d streams", len(res.Streams), len(streams))
				}
				for i, s := range res.Streams {
					want := streams[i].Rate
					if s.Sent+10 < want || s.Sent > want+1 || s.Answered != s.Sent || s.Lost != 0 || s.Rcodes["NOERROR"] != s.Sent {
						t.Errorf("stream %s at %d/s: %+v", s.Sources, want, s)
					}
					n := 0
					for a, q := range clients {
						if streams[i].Sources.Contains(a) {
							n += q
						}
					}
					if uint64(n) != s.Sent {
						t.Errorf("stream %s: server counted %d, generator sent %d", s.Sources, n, s.Sent)
					}
				}
			}
			if res.Latency.Samples == 0 || res.Latency.P50 <= 0 {
				t.Errorf("latency %+v", res.Latency)
			}
		})
	}
}
