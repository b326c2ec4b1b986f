package bpf

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/afxdp/afxdp/internal/pkt"
)

// servingAsked is loadServing with a reader of its route requests.
func servingAsked(t *testing.T) (*Filter, *RouteReader) {
	t.Helper()
	f := loadServing(t)
	rd, err := f.RouteRequests()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	return f, rd
}

// readRequest waits briefly for one route request; ok is false if none came.
func readRequest(t *testing.T, rd *RouteReader) (RouteRequest, bool) {
	t.Helper()
	rd.rd.SetDeadline(time.Now().Add(100 * time.Millisecond))
	req, err := rd.Read()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return req, false
	}
	if err != nil {
		t.Fatalf("reading route requests: %v", err)
	}
	return req, true
}

// TestRouteCheck walks one IPv4 source through the reverse-path check: an
// unknown source goes to the kernel and is asked about once, the verdict
// user space records decides from then on, and a flush or a new rp_filter
// setting forgets it.
func TestRouteCheck(t *testing.T) {
	f, rd := servingAsked(t)

	expect := func(frame []byte, want Counter) {
		t.Helper()
		if _, got := run(t, f, frame); got != want {
			t.Fatalf("counted %s, want %s", got, want)
		}
	}
	q4, q6 := query4(nil), query6(nil)

	// Off: no question is asked.
	expect(q4, PassNoSocket)
	if req, ok := readRequest(t, rd); ok {
		t.Fatalf("rp_filter off asked about %v", req)
	}

	if err := f.SetRPFilter(RPStrict); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassRoutePending)
	req, ok := readRequest(t, rd)
	if !ok || req.Src != client4 || req.Dst != server4 {
		t.Fatalf("asked %v (%v), want %s -> %s", req, ok, client4, server4)
	}
	// Asked once, not once a query.
	expect(q4, PassRoutePending)
	if again, ok := readRequest(t, rd); ok {
		t.Fatalf("asked again at once: %v", again)
	}
	// IPv6 has no reverse-path filter.
	expect(q6, PassNoSocket)

	// A verdict of an older generation is dropped.
	if err := f.SetRoute(client4, true, req.Gen-1); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassRoutePending)

	if err := f.SetRoute(client4, false, req.Gen); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassRPFilter)
	if err := f.SetRoute(client4, true, req.Gen); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassNoSocket)
	// Other sources are asked about on their own.
	other := query4(func(p *pkt.Frame) { p.SrcIP = netip.MustParseAddr("198.18.7.7") })
	expect(other, PassRoutePending)
	if req, ok := readRequest(t, rd); !ok || req.Src != netip.MustParseAddr("198.18.7.7") {
		t.Fatalf("second source: asked %v (%v)", req, ok)
	}

	// A flush forgets the verdict; the source is asked about again.
	if err := f.FlushRoutes(); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassRoutePending)
	req2, ok := readRequest(t, rd)
	if !ok || req2.Src != client4 || req2.Gen == req.Gen {
		t.Fatalf("after a flush: asked %v (%v), want %s in a new generation", req2, ok, client4)
	}
	if err := f.SetRoute(client4, true, req2.Gen); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassNoSocket)

	// Loose mode asks again too; off needs no verdict.
	if err := f.SetRPFilter(RPLoose); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassRoutePending)
	if err := f.SetRPFilter(RPOff); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassNoSocket)
	// Martians are refused before the route is looked at.
	if err := f.SetRPFilter(RPStrict); err != nil {
		t.Fatal(err)
	}
	expect(query4(func(p *pkt.Frame) { p.SrcIP = netip.MustParseAddr("127.0.0.1") }), PassMartian)

	if err := f.SetRPFilter(3); err == nil {
		t.Error("rp_filter 3 accepted")
	}
}

// TestRouteAskAgain: a request that user space never answered (lost, or
// the ring was full) is made again after a second.
func TestRouteAskAgain(t *testing.T) {
	f, rd := servingAsked(t)
	if err := f.SetRPFilter(RPStrict); err != nil {
		t.Fatal(err)
	}
	run(t, f, query4(nil))
	if _, ok := readRequest(t, rd); !ok {
		t.Fatal("not asked")
	}
	time.Sleep(1100 * time.Millisecond)
	run(t, f, query4(nil))
	if _, ok := readRequest(t, rd); !ok {
		t.Fatal("not asked again after a second")
	}
}

// TestLocalAddrs: the set of local sources follows what user space says.
func TestLocalAddrs(t *testing.T) {
	f := loadServing(t)
	moved := netip.MustParseAddr("198.18.0.77")
	from := query4(func(p *pkt.Frame) { p.SrcIP = moved })
	if _, c := run(t, f, from); c != PassNoSocket {
		t.Fatalf("before: %s", c)
	}
	if err := f.SetLocalAddrs(append(append([]netip.Addr{}, localAddrs...), moved)); err != nil {
		t.Fatal(err)
	}
	if _, c := run(t, f, from); c != PassMartian {
		t.Fatalf("local: %s, want martian", c)
	}
	if _, c := run(t, f, query4(func(p *pkt.Frame) { p.SrcIP = netip.MustParseAddr("198.18.1.1") })); c != PassMartian {
		t.Fatalf("still local: %s, want martian", c)
	}
	if err := f.SetLocalAddrs(localAddrs[:1]); err != nil {
		t.Fatal(err)
	}
	if _, c := run(t, f, from); c != PassNoSocket {
		t.Fatalf("removed: %s", c)
	}
	if _, c := run(t, f, query4(func(p *pkt.Frame) { p.SrcIP = netip.MustParseAddr("198.18.1.1") })); c != PassNoSocket {
		t.Fatalf("removed: %s", c)
	}
}
