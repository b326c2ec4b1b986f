package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/internal/priv"
)

const xdpTX = 3

// The hot answer model: what the program must make of a frame, written in
// plain Go from the spec (hot.h is not read): the key as the user-space
// table keys a query, and the reply as the datapath would frame the bytes
// the table renders.

type hotModelKey struct {
	listener uint32
	qtype    uint16
	do, cd   bool
	v6       bool
	name     string
}

type hotModel struct {
	entries   map[hotModelKey]*HotEntry
	listeners map[netip.AddrPort]uint32
	now       time.Duration
}

// dnsQuery is what the model reads of a query: nil if it is not keyed.
type dnsQuery struct {
	key         hotModelKey
	id          uint16
	rd, ad, opt bool
	question    []byte // as sent
	osize       uint16
	oflags      byte
}

var hotBadTypes = map[uint16]bool{41: true, 43: true, 46: true, 249: true, 250: true, 251: true, 252: true, 253: true, 254: true, 255: true}

func modelDNSQuery(p []byte) *dnsQuery {
	if len(p) < 12 || p[2]&0x80 != 0 || p[2]>>3&0xf != 0 {
		return nil
	}
	be := binary.BigEndian
	if be.Uint16(p[4:]) != 1 || be.Uint16(p[6:]) != 0 || be.Uint16(p[8:]) != 0 || be.Uint16(p[10:]) > 1 {
		return nil
	}
	q := &dnsQuery{id: be.Uint16(p), rd: p[2]&1 != 0, ad: p[3]&0x20 != 0}
	q.key.cd = p[3]&0x10 != 0
	off := 12
	for {
		if off >= len(p) || off-12 >= HotNameMax {
			return nil
		}
		c := int(p[off])
		if c&0xc0 != 0 {
			return nil
		}
		off += 1 + c
		if c == 0 {
			break
		}
	}
	name := bytes.Clone(p[12:min(off, len(p))])
	for i, b := range name {
		if b >= 'A' && b <= 'Z' {
			name[i] = b + 32
		}
	}
	if len(name) > HotNameMax || off+4 > len(p) {
		return nil
	}
	q.key.name = string(name)
	q.key.qtype = be.Uint16(p[off:])
	if be.Uint16(p[off+2:]) != 1 || hotBadTypes[q.key.qtype] {
		return nil
	}
	off += 4
	q.question = p[12:off]
	if be.Uint16(p[10:]) == 1 {
		o := p[off:]
		if len(o) < 11 || o[0] != 0 || be.Uint16(o[1:]) != 41 || o[6] != 0 || be.Uint16(o[9:]) != 0 {
			return nil
		}
		q.opt, q.osize, q.oflags = true, be.Uint16(o[3:]), o[7]
		q.key.do = o[7]&0x80 != 0
		off += 11
	}
	if off != len(p) {
		return nil
	}
	return q
}

// modelTTL is the TTL the program must write at now (CLOCK_MONOTONIC), or
// 0 if it must not answer: the entry's TTL less the whole seconds since
// its Base (taken HotClockSlack early), refused at 1 or less.
func modelTTL(e *HotEntry, now time.Duration) uint32 {
	secs := uint64(0)
	if base := max(e.Base-HotClockSlack, 0); now > base {
		secs = uint64((now - base) / time.Second)
	}
	if secs+1 >= uint64(e.TTL) {
		return 0
	}
	return e.TTL - uint32(secs)
}

// modelReply renders the DNS reply the user-space table would, the
// records' TTLs set to ttl.
func modelReply(q *dnsQuery, e *HotEntry, ttl uint32) []byte {
	b := binary.BigEndian.AppendUint16(nil, q.id)
	f1, f2 := byte(0x80), e.Rcode
	if e.AA {
		f1 |= 0x04
	}
	if q.rd {
		f1 |= 0x01
	}
	if e.RA {
		f2 |= 0x80
	}
	if e.AD && (q.key.do || q.ad) {
		f2 |= 0x20
	}
	if q.key.cd {
		f2 |= 0x10
	}
	ex := e.EX
	if q.opt {
		ex++
	}
	b = append(b, f1, f2, 0, 1)
	b = binary.BigEndian.AppendUint16(b, e.AN)
	b = binary.BigEndian.AppendUint16(b, e.NS)
	b = binary.BigEndian.AppendUint16(b, ex)
	b = append(b, q.question...)
	rrs := bytes.Clone(e.RRs)
	for _, at := range e.TTLAt {
		binary.BigEndian.PutUint32(rrs[at:], ttl)
	}
	b = append(b, rrs...)
	if q.opt {
		b = append(b, 0, 0, 41, byte(q.osize>>8), byte(q.osize), 0, 0, q.oflags, 0, 0, 0)
	}
	return b
}

// noHot is answer's counter where the program must go on as without hot
// answers.
const noHot = Counter(-1)

// answer is the reply frame for frame and HotAnswer; nil and
// PassFragNeeded where the reply would not fit the route's MTU; or nil
// and noHot where the program must go on as without hot answers. s gives
// the routes (the reply's MACs and MTU) and the checks.
func (m *hotModel) answer(frame []byte, s *servedSet) ([]byte, Counter) {
	o := s.classify(frame)
	if o.c != Redirect {
		return nil, noHot
	}
	l3, tags := 14, []uint16(nil)
	if t := binary.BigEndian.Uint16(frame[12:]); t == 0x8100 || t == 0x88a8 {
		l3, tags = 18, []uint16{t}
	}
	be := binary.BigEndian
	var src, dst netip.Addr
	var udp []byte
	if frame[l3]>>4 == 4 {
		ip := frame[l3:]
		if ip[0]&0xf != 5 || onesSum(ip[:20]) != 0xffff {
			return nil, noHot
		}
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		udp = ip[20:be.Uint16(ip[2:])]
	} else {
		ip := frame[l3:]
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		udp = ip[40 : 40+int(be.Uint16(ip[4:]))]
		if be.Uint16(udp[6:]) == 0 {
			return nil, noHot
		}
	}
	if int(be.Uint16(udp[4:])) != len(udp) {
		return nil, noHot
	}
	if be.Uint16(udp[6:]) != 0 && pkt.UDPChecksum(src, dst, zeroCheck(udp)) != be.Uint16(udp[6:]) {
		return nil, noHot
	}
	q := modelDNSQuery(udp[8:])
	if q == nil {
		return nil, noHot
	}
	q.key.listener = m.listeners[netip.AddrPortFrom(dst, be.Uint16(udp[2:]))]
	q.key.v6 = dst.Is6()
	e := m.entries[q.key]
	if e == nil || modelTTL(e, m.now) == 0 || ((q.key.do || q.ad) && !e.ADKnown) {
		return nil, noHot
	}
	reply := modelReply(q, e, modelTTL(e, m.now))
	if len(reply) > HotReplyMax {
		return nil, noHot
	}
	hdr := 20
	if dst.Is6() {
		hdr = 40
	}
	if o.mtu != 0 && hdr+8+len(reply) > o.mtu {
		return nil, PassFragNeeded
	}
	out := pkt.Frame{Dst: o.next, Src: o.own, VLANs: tags, SrcIP: dst, DstIP: src,
		SrcPort: be.Uint16(udp[2:]), DstPort: be.Uint16(udp[0:]), FragOff: 0x4000, Payload: reply}.Build()
	if tags != nil { // pkt writes VID 100; keep the query's TCI
		copy(out[14:16], frame[14:16])
	}
	return out, HotAnswer
}

func zeroCheck(udp []byte) []byte {
	c := bytes.Clone(udp)
	c[6], c[7] = 0, 0
	return c
}

// rrA is an uncompressed A record.
func rrA(name string, ttl uint32, addr [4]byte) []byte {
	b := pkt.Query(name, 1)[12:]
	b = b[:len(b)-4]
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, 4)
	return append(b, addr[:]...)
}

func wireName(name string) []byte {
	q := pkt.Query(strings.ToLower(name), 1)
	return q[12 : len(q)-4]
}

// hotFixture is a filter serving modelServed as listeners 1..n, with a hot
// map the test writes by hand, and the model that must agree with it.
type hotFixture struct {
	f *host
	s *servedSet
	m *hotModel
}

func newHotFixture(tb testing.TB) *hotFixture {
	f := loadHost(tb)
	m := &hotModel{entries: map[hotModelKey]*HotEntry{}, listeners: map[netip.AddrPort]uint32{}}
	for i, ap := range modelServed {
		if err := f.ServeAs(ap.Addr(), ap.Port(), uint32(i+1)); err != nil {
			tb.Fatal(err)
		}
		m.listeners[ap] = uint32(i + 1)
	}
	return &hotFixture{f: f, s: testServed(), m: m}
}

// install empties the hot table and puts entries in it, one-cell ones
// from cell 0 up, three-cell ones from HotSmallCells up, entry i's hits
// in slot i. It returns each entry's first cell.
func (x *hotFixture) install(tb testing.TB, entries ...*HotEntry) []uint32 {
	tb.Helper()
	t, err := x.f.HotTable()
	if err != nil {
		tb.Fatal(err)
	}
	t.Clear()
	if err := t.Sync(); err != nil {
		tb.Fatal(err)
	}
	clear(x.m.entries)
	small, large := uint32(0), uint32(HotSmallCells)
	var cells []uint32
	for _, e := range entries {
		cell := &small
		if HotCellsFor(len(e.RRs)) > 1 {
			cell = &large
		}
		if _, replaced, err := t.Put(e, *cell, uint32(len(cells))); err != nil || replaced {
			tb.Fatalf("put: %v (replaced %v)", err, replaced)
		}
		cells = append(cells, *cell)
		*cell += uint32(HotCellsFor(len(e.RRs)))
		x.m.entries[hotModelKey{e.Listener, e.QType, e.DO, e.CD, e.V6, string(e.Name)}] = e
	}
	return cells
}

// ttlFields is where the TTL fields of the uncompressed records in rrs are.
func ttlFields(rrs []byte) []uint16 {
	var at []uint16
	for off := 0; off < len(rrs); {
		for rrs[off] != 0 {
			off += 1 + int(rrs[off])
		}
		off++
		at = append(at, uint16(off+4))
		off += 10 + int(binary.BigEndian.Uint16(rrs[off+8:]))
	}
	return at
}

// check runs frame and compares verdict, counter and output with the model.
func (x *hotFixture) check(frame []byte) error {
	// The program reads its coarse clock, which lags by up to a tick,
	// somewhere between these two readings: where a TTL step falls in
	// between, either side's answer is right.
	first := Monotonic() - 10*time.Millisecond
	before, err := x.f.Counters()
	if err != nil {
		return err
	}
	out := make([]byte, len(frame)+HotReplyMax+64)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out, Repeat: 1}
	ret, err := x.f.run(opts)
	if err != nil {
		return fmt.Errorf("test run: %w", err)
	}
	out = opts.DataOut
	last := Monotonic()
	after, err := x.f.Counters()
	if err != nil {
		return err
	}
	var errs []error
	for _, now := range []time.Duration{last, first} {
		x.m.now = now
		err := x.agree(frame, ret, out, before, after)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errs[0]
}

// agree compares one run's verdict, counters and output with the model's
// at x.m.now.
func (x *hotFixture) agree(frame []byte, ret uint32, out []byte, before, after Counters) error {
	want, hc := x.m.answer(frame, x.s)
	wantC := model(frame, x.s)
	if hc != noHot {
		wantC = hc
	}
	wantRet := modelVerdict(wantC)
	if hc == HotAnswer {
		wantRet = xdpTX
	}
	if ret != wantRet || after[wantC]-before[wantC] != 1 {
		return fmt.Errorf("frame %x: verdict %d, counter %s moved by %d; want verdict %d", frame, ret, wantC, after[wantC]-before[wantC], wantRet)
	}
	if hc == HotAnswer && !bytes.Equal(out, want) {
		return fmt.Errorf("frame %x:\nprogram %x\nmodel   %x", frame, out, want)
	}
	if hc != HotAnswer && !bytes.Equal(out, frame) {
		return fmt.Errorf("frame %x changed without an answer: %x", frame, out)
	}
	return nil
}

// hotEntries are the entries of the table test: example.org A for both
// families on port 53, with AD known, one with odd lengths everywhere.
// Their TTLs read ttl at base.
func hotEntries(base time.Duration, ttl uint32) []*HotEntry {
	a := rrA("example.org.", 299, [4]byte{198, 18, 0, 10})
	// An odd name (17 bytes) with odd records (31 bytes): every checksum
	// term at an odd offset.
	odd := append(wireName("abc.example.org."), 0, 16, 0, 1, 0, 0, 0, 7, 0, 4, 3, 'a', 'b', 'c')
	txt := append(wireName("t.example.org."), 0, 16, 0, 1, 0, 0, 0, 60, 0, 6, 5, 'h', 'e', 'l', 'l', 'o')
	// Records longer than the headroom the program takes room from (256
	// bytes less its bookkeeping): the reply grows at the tail instead.
	bigData := append([]byte{255}, bytes.Repeat([]byte{'x'}, 255)...)
	bigData = append(bigData, append([]byte{60}, bytes.Repeat([]byte{'y'}, 60)...)...)
	big := append(wireName("big.example.org."), 0, 16, 0, 1, 0, 0, 1, 0, byte(len(bigData)>>8), byte(len(bigData)))
	big = append(big, bigData...)
	big6 := append(wireName("big6.example.org."), big[len(wireName("big.example.org.")):]...)
	es := []*HotEntry{
		{Listener: 1, QType: 1, Name: wireName("example.org."), RRs: a, AN: 1, RA: true, ADKnown: true, AD: true},
		{Listener: 2, QType: 1, V6: true, Name: wireName("example.org."), RRs: a, AN: 1, RA: true},
		{Listener: 1, QType: 1, DO: true, Name: wireName("example.org."), RRs: a, AN: 1, RA: true, ADKnown: true},
		{Listener: 1, QType: 16, Name: wireName("abc.example.org."), RRs: odd, AN: 1, AA: true},
		{Listener: 1, QType: 16, Name: wireName("t.example.org."), RRs: txt, AN: 1, Rcode: 0},
		{Listener: 1, QType: 28, Name: wireName("nx.example.org."), RRs: a, NS: 1, Rcode: 3},
		{Listener: 1, QType: 16, Name: wireName("big.example.org."), RRs: big, AN: 1},
		{Listener: 2, QType: 16, V6: true, Name: wireName("big6.example.org."), RRs: big6, AN: 1},
	}
	for _, e := range es {
		e.Base, e.TTL, e.TTLAt = base, ttl, ttlFields(e.RRs)
	}
	return es
}

func withOPT(q []byte, size uint16, flags byte) []byte {
	q = bytes.Clone(q)
	q[11] = 1
	return append(q, 0, 0, 41, byte(size>>8), byte(size), 0, 0, flags, 0, 0, 0)
}

func hotCases() []seedCase {
	q := func(name string, qtype uint16, mut func(p []byte) []byte) []byte {
		p := pkt.Query(name, qtype)
		if mut != nil {
			p = mut(p)
		}
		return p
	}
	v4 := func(p []byte) []byte {
		return pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: client4, DstIP: server4, SrcPort: 40000, DstPort: 53, Payload: p}.Build()
	}
	v6 := func(p []byte) []byte {
		return pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: client6, DstIP: server6, SrcPort: 40001, DstPort: 53, Payload: p}.Build()
	}
	vlan := func(p []byte) []byte {
		return pkt.Frame{Dst: serverMAC, Src: clientMAC, VLANs: []uint16{0x8100}, SrcIP: tagged4, DstIP: server4, SrcPort: 40002, DstPort: 53, Payload: p}.Build()
	}
	from := func(src netip.Addr, p []byte) []byte {
		dst := server4
		if src.Is6() {
			dst = server6
		}
		return pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: src, DstIP: dst, SrcPort: 40003, DstPort: 53, Payload: p}.Build()
	}
	tagged := func(tpid, vid uint16, src netip.Addr, srcMAC [6]byte, p []byte) []byte {
		dst := server4
		if src.Is6() {
			dst = server6
		}
		f := pkt.Frame{Dst: serverMAC, Src: srcMAC, VLANs: []uint16{tpid}, SrcIP: src, DstIP: dst, SrcPort: 40004, DstPort: 53, Payload: p}.Build()
		return edit16(f, 14, vid)
	}
	noCheck := func(f []byte) []byte { f = bytes.Clone(f); f[14+20+6], f[14+20+7] = 0, 0; return f }
	badCheck := func(f []byte) []byte { f = bytes.Clone(f); f[14+20+7] ^= 1; return f }
	badIPCheck := func(f []byte) []byte { f = bytes.Clone(f); f[14+10] ^= 1; return f }
	return []seedCase{
		{"ipv4 hit", v4(q("example.org.", 1, nil)), HotAnswer, false},
		{"ipv4 hit 0x20 case", v4(q("ExAmPlE.oRg.", 1, nil)), HotAnswer, false},
		{"ipv4 hit no checksum", noCheck(v4(q("example.org.", 1, nil))), HotAnswer, false},
		{"ipv4 wrong udp checksum", badCheck(v4(q("example.org.", 1, nil))), PassNoSocket, false},
		{"ipv4 wrong ip checksum", badIPCheck(v4(q("example.org.", 1, nil))), PassNoSocket, false},
		{"ipv6 hit", v6(q("example.org.", 1, nil)), HotAnswer, false},
		{"ipv6 on an ipv4 entry's name", v6(q("abc.example.org.", 16, nil)), PassNoSocket, false},
		{"vlan hit", vlan(q("example.org.", 1, nil)), HotAnswer, false},
		{"odd name and records", v4(q("ABC.example.org.", 16, nil)), HotAnswer, false},
		{"opt without do", v4(q("example.org.", 1, func(p []byte) []byte { return withOPT(p, 1232, 0) })), HotAnswer, false},
		{"opt with do", v4(q("example.org.", 1, func(p []byte) []byte { return withOPT(p, 4096, 0x80) })), HotAnswer, false},
		{"opt z bits", v4(q("example.org.", 1, func(p []byte) []byte { return withOPT(p, 512, 0x7f) })), HotAnswer, false},
		{"odd name with opt", v4(q("abc.example.org.", 16, func(p []byte) []byte { return withOPT(p, 1400, 0) })), HotAnswer, false},
		{"opt with an option", v4(q("example.org.", 1, func(p []byte) []byte {
			p = withOPT(p, 1232, 0)
			p[len(p)-1] = 4
			return append(p, 0, 10, 0, 0)
		})), PassNoSocket, false},
		{"cd set: other key", v4(q("example.org.", 1, func(p []byte) []byte { p[3] |= 0x10; return p })), PassNoSocket, false},
		{"ad asked, known", v4(q("example.org.", 1, func(p []byte) []byte { p[3] |= 0x20; return p })), HotAnswer, false},
		{"ad asked, unknown", v6(q("example.org.", 1, func(p []byte) []byte { p[3] |= 0x20; return p })), PassNoSocket, false},
		{"rd clear", v4(q("example.org.", 1, func(p []byte) []byte { p[2] &^= 1; return p })), HotAnswer, false},
		{"txt", v4(q("t.example.org.", 16, nil)), HotAnswer, false},
		{"records past the headroom", v4(q("big.example.org.", 16, nil)), HotAnswer, false},
		{"records past the headroom, opt", v6(q("big.example.org.", 16, func(p []byte) []byte { return withOPT(p, 1232, 0) })), PassNoSocket, false},
		{"nxdomain", v4(q("nx.example.org.", 28, nil)), HotAnswer, false},
		{"other type", v4(q("example.org.", 28, nil)), PassNoSocket, false},
		{"any", v4(q("example.org.", 255, nil)), PassNoSocket, false},
		{"class ch", v4(q("example.org.", 1, func(p []byte) []byte { p[len(p)-1] = 3; return p })), PassNoSocket, false},
		{"trailing byte", v4(q("example.org.", 1, func(p []byte) []byte { return append(p, 0) })), PassNoSocket, false},
		{"compressed name", v4(append(pkt.Query(".", 1)[:12], 0xc0, 12, 0, 1, 0, 1)), PassNoSocket, false},
		{"name too long for the key", v4(q(strings.Repeat("a", 60)+".example.org.", 1, nil)), PassNoSocket, false},
		{"other port's listener", pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: client4, DstIP: server4, SrcPort: 40000, DstPort: 5353, Payload: pkt.Query("example.org.", 1)}.Build(), PassNoSocket, false},
		{"via router", pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: viaRouter4, DstIP: server4, SrcPort: 40000, DstPort: 53, Payload: pkt.Query("example.org.", 1)}.Build(), HotAnswer, false},
		{"martian source", pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: server4, DstIP: server4, SrcPort: 40000, DstPort: 53, Payload: pkt.Query("example.org.", 1)}.Build(), PassMartian, false},
		{"routed elsewhere", pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: elsewhere4, DstIP: server4, SrcPort: 40000, DstPort: 53, Payload: pkt.Query("example.org.", 1)}.Build(), PassElsewhere, false},
		{"padded frame", pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: client4, DstIP: server4, SrcPort: 40000, DstPort: 53, Payload: pkt.Query("example.org.", 1), Padding: 20}.Build(), HotAnswer, false},
		{"route mtu, small reply", from(smallMTU4, q("example.org.", 1, nil)), HotAnswer, false},
		{"route mtu, reply too big", from(smallMTU4, q("big.example.org.", 16, nil)), PassFragNeeded, false},
		{"ipv6 route mtu, small reply", from(smallMTU6, q("example.org.", 1, nil)), HotAnswer, false},
		{"ipv6 route mtu, reply too big", from(smallMTU6, q("big6.example.org.", 16, nil)), PassFragNeeded, false},
		{"ipv6 big reply, link mtu", from(client6, q("big6.example.org.", 16, nil)), HotAnswer, false},
		{"ipv6 link-local", tagged(0x8100, 100, linkLocal6, linkLocalMAC, q("big6.example.org.", 16, nil)), HotAnswer, false},
		{"802.1ad ipv6", tagged(0x88a8, 100, taggedAD6, clientMAC, q("example.org.", 1, nil)), HotAnswer, false},
		{"bridge, the client's MAC", tagged(0x8100, bridgeVID, client4, clientMAC, q("example.org.", 1, nil)), HotAnswer, false},
		{"bridge, another MAC", tagged(0x8100, bridgeVID, client4, otherMAC, q("example.org.", 1, nil)), PassElsewhere, false},
		{"no neighbour", from(noNeigh4, q("example.org.", 1, nil)), PassNoNeigh, false},
		{"ipv6 no neighbour", from(viaGone6, q("example.org.", 1, nil)), PassNoNeigh, false},
		{"unreachable", from(unreachable4, q("example.org.", 1, nil)), DropUnreachable, false},
		{"ipv6 no route", from(noRoute6, q("example.org.", 1, nil)), PassNotFwded, false},
	}
}

// TestHotAnswers: the program answers what the model answers, byte for
// byte, and leaves everything else as it was.
func TestHotAnswers(t *testing.T) {
	x := newHotFixture(t)
	x.install(t, hotEntries(Monotonic()-time.Second/2, 3600)...)
	for _, c := range hotCases() {
		t.Run(c.name, func(t *testing.T) {
			x.m.now = Monotonic()
			_, got := x.m.answer(c.frame, x.s)
			if got == noHot {
				got = model(c.frame, x.s)
			}
			if got != c.want {
				t.Fatalf("the model says %s, the case %s", got, c.want)
			}
			if err := x.check(c.frame); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHotExpiry: the program writes the TTL less the whole seconds since
// the entry's base, and stops serving at a TTL of 1 (the table is written
// by hand, the program's clock is CLOCK_MONOTONIC). Bases are half a
// second off any step, so the cases do not race a step.
func TestHotExpiry(t *testing.T) {
	x := newHotFixture(t)
	frame := hotCases()[0].frame
	for _, c := range []struct {
		name string
		ago  time.Duration // since base
		ttl  uint32
		want uint32 // the TTL written; 0: not answered
	}{
		{"fresh", time.Second / 2, 300, 300},
		{"ten seconds on", 10*time.Second + time.Second/2, 300, 290},
		{"two left", 298*time.Second + time.Second/2, 300, 2},
		{"one left", 299*time.Second + time.Second/2, 300, 0},
		{"long passed", time.Hour, 300, 0},
		{"ttl 2, fresh", time.Second / 2, 2, 2},
		{"ttl 2, a second on", time.Second + time.Second/2, 2, 0},
		{"base ahead of the clock", -time.Second / 2, 300, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			es := hotEntries(Monotonic()-c.ago, c.ttl)
			x.install(t, es...)
			x.m.now = Monotonic()
			if got := modelTTL(es[0], x.m.now); got != c.want {
				t.Fatalf("the model says TTL %d", got)
			}
			if err := x.check(frame); err != nil {
				t.Fatal(err)
			}
		})
	}
	// An entry of TTL 3 a second and a half on is served at 2, then not
	// once a second more has passed.
	x.install(t, hotEntries(Monotonic()-1500*time.Millisecond, 3)...)
	if err := x.check(frame); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	if out, hc := x.m.answer(frame, x.s); hc != HotAnswer || !bytes.Contains(out, []byte{0, 0, 0, 2, 0, 4}) {
		t.Fatalf("before expiry: the model says %s with %x", hc, out)
	}
	time.Sleep(time.Second)
	x.m.now = Monotonic()
	if _, hc := x.m.answer(frame, x.s); hc != noHot {
		t.Fatalf("after expiry: the model says %s", hc)
	}
	if err := x.check(frame); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// TestHotNameVerified: the map is keyed by the name's hash, and a value
// whose name is not the query's (what a second name of the same hash
// would be) is never served.
func TestHotNameVerified(t *testing.T) {
	x := newHotFixture(t)
	frame := hotCases()[0].frame
	e := hotEntries(Monotonic()-time.Second/2, 3600)[0]
	for _, word := range []int{-1, 0, 1} { // -1: as written
		cells := x.install(t, e)
		if word >= 0 {
			clear(x.m.entries)
			tb, _ := x.f.HotTable()
			tb.cell(cells[0]).Name[word] ^= 0x20 // one letter's case: the program lowercases the query's
		}
		if err := x.check(frame); err != nil {
			t.Fatalf("name word %d changed: %v", word, err)
		}
	}
}

// TestHotHitsCounted: each answer counts in its entry's slot, by shape.
func TestHotHitsCounted(t *testing.T) {
	x := newHotFixture(t)
	es := hotEntries(Monotonic()-time.Second/2, 3600)
	x.install(t, es...)
	cs := hotCases()
	for _, i := range []int{0, 1, 1, 9, 10} { // no OPT once and twice, OPT (no DO), OPT with DO
		if err := x.check(cs[i].frame); err != nil {
			t.Fatal(err)
		}
	}
	tb, err := x.f.HotTable()
	if err != nil {
		t.Fatal(err)
	}
	hits := make([]uint32, 2*HotEntries)
	tb.Hits(hits)
	want := map[int]uint32{0: 3, 1: 1, 2*2 + 1: 1} // entry 0: thrice without OPT, once with; entry 2 (DO): once with OPT
	for i, n := range hits {
		if n != want[i] {
			t.Errorf("slot %d: %d hits, want %d", i, n, want[i])
		}
	}
	// An empty table stops hot answers.
	x.install(t)
	if err := x.check(cs[0].frame); err != nil {
		t.Fatal(err)
	}
}

// TestHotMatchesModelOnMutations: random edits of the hot cases.
func TestHotMatchesModelOnMutations(t *testing.T) {
	x := newHotFixture(t)
	x.install(t, hotEntries(Monotonic()-time.Second/2, 3600)...)
	r := rand.New(rand.NewSource(14))
	n := 0
	for _, c := range hotCases() {
		for range 300 {
			m := mutate(r, c.frame)
			if !runnable(m) {
				continue
			}
			n++
			if err := x.check(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d mutated frames agree", n)
}

func FuzzHot(f *testing.F) {
	for _, c := range hotCases() {
		f.Add(c.frame)
	}
	x := newHotFixture(f)
	x.install(f, hotEntries(Monotonic()-time.Second/2, 3600)...)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if !runnable(frame) {
			return
		}
		if err := x.check(frame); err != nil {
			t.Fatal(err)
		}
	})
}

// TestHotTableWrites: Put of a key already in the table points its way at
// the new cells and says which it replaced; Remove takes out only the
// entry at the cell it names; a ninth key of one bucket is refused.
func TestHotTableWrites(t *testing.T) {
	x := newHotFixture(t)
	frame := hotCases()[0].frame
	es := hotEntries(Monotonic()-time.Second/2, 3600)
	tb, err := x.f.HotTable()
	if err != nil {
		t.Fatal(err)
	}
	x.install(t, es[0])
	again := *es[0]
	again.RRs = rrA("example.org.", 60, [4]byte{198, 18, 0, 99})
	old, replaced, err := tb.Put(&again, 5, 10)
	if err != nil || !replaced || old != 0 {
		t.Fatalf("put again: old %d, replaced %v, %v", old, replaced, err)
	}
	x.m.entries[hotModelKey{again.Listener, again.QType, again.DO, again.CD, again.V6, string(again.Name)}] = &again
	if err := x.check(frame); err != nil {
		t.Fatalf("after the replacement: %v", err)
	}
	if tb.Remove(0) {
		t.Fatal("removed the replaced cell")
	}
	if err := x.check(frame); err != nil {
		t.Fatalf("after removing the replaced cell: %v", err)
	}
	if !tb.Remove(5) {
		t.Fatal("could not remove the live cell")
	}
	clear(x.m.entries)
	if err := x.check(frame); err != nil {
		t.Fatalf("after removing the live cell: %v", err)
	}

	// Names whose keys share a bucket: eight fit, the ninth does not.
	var same []*HotEntry
	bucket := -1
	for i := 0; len(same) < hotWays+1; i++ {
		e := *es[0]
		e.Name = wireName(fmt.Sprintf("n%d.example.org.", i))
		k := e.key()
		var w [HotNameMax / 8]uint64
		k.NameHash = hotHash(e.Name, &w)
		b := int(hotMix(&k) % hotBuckets)
		if bucket < 0 {
			bucket = b
		}
		if b == bucket {
			same = append(same, &e)
		}
	}
	x.install(t)
	for i, e := range same {
		_, _, err := tb.Put(e, uint32(10+i), uint32(i))
		if (err == nil) != (i < hotWays) || (err != nil && !errors.Is(err, ErrHotBucketFull)) {
			t.Fatalf("key %d of one bucket: %v", i, err)
		}
	}
}

// TestHotTableClosed: once the filter is closed, UseHotTable refuses
// instead of handing out memory that is no longer mapped; Close waits for
// a user still inside.
func TestHotTableClosed(t *testing.T) {
	priv.Require(t)
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- f.UseHotTable(func(tb *HotTable) error {
			close(inside)
			<-release
			tb.Clear() // still mapped: Close is waiting
			return nil
		})
	}()
	<-inside
	closed := make(chan error)
	go func() { closed <- f.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while the table was in use")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := f.UseHotTable(func(*HotTable) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestHotSizesMatchProgram: Go's view of the hot table is sized by the
// same numbers as the program's maps. The program cannot read a cell past
// its map's end; with HotCells two cells larger than HOT_CELLS, the last
// three-cell entry was written where the program never looks.
func TestHotSizesMatchProgram(t *testing.T) {
	spec, err := loadFilter()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m          string
		entries    uint32
		valueBytes uint32
	}{
		{"hot_cells", HotCells, HotCellSize},
		{"hot_hits", HotEntries, HotSlots / HotEntries * 4},
		{"hot_index", hotBuckets, hotWays * 8},
	} {
		ms, ok := spec.Maps[c.m]
		if !ok {
			t.Errorf("no map %s", c.m)
			continue
		}
		if ms.MaxEntries != c.entries || ms.ValueSize != c.valueBytes {
			t.Errorf("%s: %d entries of %d bytes in the program, %d of %d in Go", c.m, ms.MaxEntries, ms.ValueSize, c.entries, c.valueBytes)
		}
	}
}
