package afxdp

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/internal/fibtest"
	"github.com/afxdp/afxdp/internal/priv"
	"github.com/afxdp/afxdp/plugin/afxdp/frame"
	"github.com/afxdp/afxdp/plugin/afxdp/hot"
)

// TestParseHotModes: `hot` takes auto (the default, written out), on,
// off, user and xdp; on and the last two make start-up fail where hot
// answers cannot be given.
func TestParseHotModes(t *testing.T) {
	for in, want := range map[string]hotMode{"auto": hotAuto, "on": hotOn, "off": hotOff, "user": hotUser, "xdp": hotXDP} {
		c := caddy.NewTestController("dns", "afxdp lo {\n\thot "+in+"\n}")
		_, set, _, err := parse(c)
		if err != nil || set.hot != want {
			t.Errorf("hot %s: %v, %v", in, set.hot, err)
		}
		if want.required() == (want == hotOff || want == hotAuto) {
			t.Errorf("hot %s: required %v", in, want.required())
		}
	}
	c := caddy.NewTestController("dns", "afxdp lo {\n\thot kernel\n}")
	if _, _, _, err := parse(c); err == nil || !strings.Contains(err.Error(), "want auto, on, off, user or xdp") {
		t.Errorf("hot kernel: %v", err)
	}
}

// TestXDPAnswersAsReceiveLoop: for each query shape, the XDP program's
// reply frame (BPF_PROG_TEST_RUN on the query frame, in a namespace where
// the client is on srv's link with a permanent neighbour entry, so the
// program's FIB lookup answers in place) is byte for byte the frame the
// receive loop sends for the same entry at the moment the program's TTLs
// stand for (hot.Table.Answer, framed by frame.Encode as the datapath
// frames replies). hot's own tests hold Answer to the chain.
func TestXDPAnswersAsReceiveLoop(t *testing.T) {
	priv.Require(t)
	fx := fibtest.New(t, fibtest.Standard())
	f, err := bpf.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	serverMAC, clientMAC := fibtest.ServerMAC, fibtest.ClientMAC
	srv4, cli4 := fibtest.Server4, fibtest.Client4
	srv6, cli6 := fibtest.Server6, fibtest.Client6
	if err := f.SetMACs(serverMAC[:], nil); err != nil {
		t.Fatal(err)
	}
	if err := f.SetDevices(bpf.Devices{0: {Index: fx.Index("srv"), MAC: serverMAC}}); err != nil {
		t.Fatal(err)
	}
	const id = 5
	for _, a := range []netip.Addr{srv4, srv6} {
		if err := f.ServeAs(a, 53, id); err != nil {
			t.Fatal(err)
		}
	}

	type shape struct {
		name           string
		qtype          uint16
		v6, rd, cd, ad bool
		edns           uint16
		do             bool
		z              uint16
	}
	var shapes []shape
	for _, v6 := range []bool{false, true} {
		for _, n := range []string{"www.example.org.", "WwW.ExAmPlE.oRg."} {
			shapes = append(shapes,
				shape{name: n, qtype: dns.TypeA, v6: v6, rd: true},
				shape{name: n, qtype: dns.TypeA, v6: v6},
				shape{name: n, qtype: dns.TypeA, v6: v6, rd: true, edns: 1232},
				shape{name: n, qtype: dns.TypeA, v6: v6, rd: true, edns: 4096, do: true},
				shape{name: n, qtype: dns.TypeA, v6: v6, rd: true, edns: 511, z: 0x7f},
				shape{name: n, qtype: dns.TypeA, v6: v6, rd: true, edns: 1232, cd: true},
				shape{name: n, qtype: dns.TypeA, v6: v6, rd: true, edns: 1232, do: true, ad: true, cd: true},
				shape{name: n, qtype: dns.TypeAAAA, v6: v6, rd: true},
				shape{name: n, qtype: dns.TypeMX, v6: v6, rd: true},                               // NODATA
				shape{name: "no" + n, qtype: dns.TypeA, v6: v6, rd: true},                         // NXDOMAIN
				shape{name: "alias.example.org.", qtype: dns.TypeA, v6: v6, rd: true, edns: 1232}, // CNAME chain
			)
		}
	}
	msg := func(s shape, qid uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(s.name, s.qtype)
		m.Id, m.RecursionDesired, m.CheckingDisabled, m.AuthenticatedData = qid, s.rd, s.cd, s.ad
		if s.edns != 0 {
			m.SetEdns0(s.edns, s.do)
			m.IsEdns0().SetZ(s.z)
		}
		return m
	}
	// What cache writes for a hit of s: SetReply, records with one TTL,
	// then ScrubWriter's copy of the client's OPT.
	hit := func(q *dns.Msg, s shape) *dns.Msg {
		r := new(dns.Msg)
		r.SetReply(q)
		r.RecursionAvailable = true
		ttl := uint32(300)
		lname := strings.ToLower(s.name)
		switch {
		case strings.HasPrefix(lname, "no"):
			r.Rcode = dns.RcodeNameError
			r.Ns = append(r.Ns, mustRR(t, fmt.Sprintf("example.org. %d IN SOA ns.example.org. h.example.org. 1 2 3 4 5", ttl)))
		case strings.HasPrefix(lname, "alias"):
			r.Answer = append(r.Answer, mustRR(t, fmt.Sprintf("alias.example.org. %d IN CNAME www.example.org.", ttl)),
				mustRR(t, fmt.Sprintf("www.example.org. %d IN A 198.18.0.10", ttl)))
		case s.qtype == dns.TypeA:
			r.Answer = append(r.Answer, mustRR(t, fmt.Sprintf("%s %d IN A 198.18.0.10", s.name, ttl)))
			r.AuthenticatedData = s.do || s.ad
		case s.qtype == dns.TypeAAAA:
			r.Answer = append(r.Answer, mustRR(t, fmt.Sprintf("%s %d IN AAAA fd00::10", s.name, ttl)))
		default:
			r.Ns = append(r.Ns, mustRR(t, fmt.Sprintf("example.org. %d IN SOA ns.example.org. h.example.org. 1 2 3 4 5", ttl)))
		}
		if o := q.IsEdns0(); o != nil {
			c := *o
			c.Hdr.Ttl &= 0xff00
			r.Extra = append(r.Extra, &c)
		}
		return r
	}
	header := func(s shape, port uint16) frame.Header {
		h := frame.Header{DstMAC: serverMAC, SrcMAC: clientMAC, Src: cli4, Dst: srv4, SrcPort: port, DstPort: 53, HopLimit: 64}
		if s.v6 {
			h.Src, h.Dst = cli6, srv6
		}
		return h
	}
	build := func(h frame.Header, payload []byte) []byte {
		b := make([]byte, 2048)
		copy(b[h.Len():], payload)
		n, err := frame.Encode(b, &h, len(payload))
		if err != nil {
			t.Fatal(err)
		}
		return b[:n]
	}

	// Filled half a second ago: the program's TTLs and the loop's are
	// read mid-second, away from a step.
	table := hot.NewTable(256)
	now := time.Now().Add(-time.Second / 2)
	for i, s := range shapes {
		q, _ := msg(s, uint16(i)).Pack()
		fam := uint32(famV4)
		if s.v6 {
			fam = famV6
		}
		if r := table.Fill(fam, q, hit(msg(s, uint16(i)), s), now); r != hot.OK {
			t.Fatalf("%+v: fill: %v", s, r)
		}
	}
	tbl, err := f.HotTable()
	if err != nil {
		t.Fatal(err)
	}
	small, large, slot := uint32(0), uint32(bpf.HotSmallCells), uint32(0)
	table.Range(func(r *hot.Ref) {
		e := r.Export()
		if !fitsXDP(&e) {
			t.Fatalf("entry %q does not fit the program", e.Name)
		}
		he := hotEntry(&e, id, bpf.Monotonic()-time.Since(e.Filled))
		cell := &small
		if bpf.HotCellsFor(len(e.RRs)) > 1 {
			cell = &large
		}
		if _, _, err := tbl.Put(&he, *cell, slot); err != nil {
			t.Fatal(err)
		}
		*cell += uint32(bpf.HotCellsFor(len(e.RRs)))
		slot += 2
	})

	for i, s := range shapes {
		qid := uint16(1000 + i)
		q, _ := msg(s, qid).Pack()
		h := header(s, uint16(40000+i))
		in := build(h, q)
		out := make([]byte, len(in)+600)
		opts := &ebpf.RunOptions{Data: in, DataOut: out}
		ret, err := fx.Run(f.Program(), opts)
		if err != nil {
			t.Fatal(err)
		}
		got := opts.DataOut
		// The receive loop's reply, now.
		var pq hot.Query
		if r := hot.ParseQuery(q, &pq); r != hot.OK {
			t.Fatalf("%+v: %v", s, r)
		}
		fam, v6 := familyOf(h.Src)
		buf := make([]byte, 1500)
		n, r := table.Answer(fam, &pq, q, v6, time.Now(), buf, len(buf))
		if r != hot.OK {
			t.Fatalf("%+v: the receive loop: %v", s, r)
		}
		rh := h.Reply()
		want := build(rh, buf[:n])
		if ret != 3 || !bytes.Equal(got, want) {
			t.Errorf("%+v: verdict %d\nprogram      %x\nreceive loop %x", s, ret, got, want)
		}
	}
	if c, _ := f.Counters(); c[bpf.HotAnswer] != uint64(len(shapes)) {
		t.Errorf("%d hot answers counted, want %d", c[bpf.HotAnswer], len(shapes))
	}
}

func mustRR(t *testing.T, s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}
