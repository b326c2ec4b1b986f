package afxdp

import (
	"net"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// writer is the dns.ResponseWriter of a query that came through AF_XDP: its
// answers leave through the queue's TX ring. Writers are pooled; one lives
// for exactly one ServeDNS call.
type writer struct {
	req *datapath.Request
	l   *listener

	remote, local *udpAddr // made on first use, then kept for the query
	buf           []byte   // pack buffer, reused across queries
	writes        int
	start         time.Time // before the chain ran: a hot entry ages from it

	tsigStatus     error
	tsigMAC        string
	tsigTimersOnly bool
}

// udpAddr holds a *net.UDPAddr and the bytes its IP points at in one
// allocation. A fresh one per query: plugins (dnstap, log) may keep the
// address after the query is done, so it must never be reused.
type udpAddr struct {
	addr net.UDPAddr
	ip   [16]byte
}

func (w *writer) reset(r *datapath.Request, l *listener) {
	w.req, w.l = r, l
	w.remote, w.local = nil, nil
	w.writes = 0
	if l != nil && l.hot != nil {
		w.start = time.Now()
	}
	w.tsigStatus, w.tsigMAC, w.tsigTimersOnly = nil, "", false
}

// RemoteAddr is the client. A *net.UDPAddr: request.Proto decides udp vs
// tcp (and so truncation) by this type.
func (w *writer) RemoteAddr() net.Addr {
	if w.remote == nil {
		w.remote = newUDPAddr(w.req.Header.Src.AsSlice(), w.req.Header.SrcPort)
	}
	return &w.remote.addr
}

// LocalAddr is the address and port the query was sent to.
func (w *writer) LocalAddr() net.Addr {
	if w.local == nil {
		w.local = newUDPAddr(w.req.Header.Dst.AsSlice(), w.req.Header.DstPort)
	}
	return &w.local.addr
}

func newUDPAddr(ip []byte, port uint16) *udpAddr {
	a := &udpAddr{}
	n := copy(a.ip[:], ip)
	a.addr = net.UDPAddr{IP: a.ip[:n:n], Port: int(port)}
	return a
}

// WriteMsg packs m and transmits it. An answer larger than one frame (the
// interface MTU) is truncated with TC set, so the client retries over TCP:
// the datapath never fragments.
func (w *writer) WriteMsg(m *dns.Msg) error {
	if t := m.IsTsig(); t != nil {
		secret, ok := w.l.server.TsigSecret[t.Hdr.Name]
		if !ok {
			return dns.ErrSecret
		}
		data, mac, err := dns.TsigGenerate(m, secret, w.tsigMAC, w.tsigTimersOnly)
		if err != nil {
			return err
		}
		w.tsigMAC = mac
		_, err = w.Write(data)
		return err
	}
	data, err := m.PackBuffer(w.buf)
	if err != nil {
		return err
	}
	if max := w.req.MaxReply(); len(data) > max {
		m.Truncate(max)
		if data, err = m.PackBuffer(w.buf); err != nil {
			return err
		}
	}
	if cap(data) > cap(w.buf) && cap(data) <= dns.MaxMsgSize {
		w.buf = data[:cap(data)]
	}
	if _, err = w.Write(data); err == nil && w.l != nil && w.l.hot != nil && w.writes == 1 {
		w.l.hot.fill(w.req, m, w.start)
	}
	return err
}

// Write transmits an already packed message.
func (w *writer) Write(b []byte) (int, error) {
	if err := w.req.Reply(b); err != nil {
		return 0, err
	}
	w.writes++
	return len(b), nil
}

// Close does nothing: there is no connection to close.
func (w *writer) Close() error { return nil }

// TsigStatus is the result of verifying the query's TSIG, if it had one.
func (w *writer) TsigStatus() error { return w.tsigStatus }

// TsigTimersOnly is for TSIG on multi-message TCP answers; kept for parity.
func (w *writer) TsigTimersOnly(b bool) { w.tsigTimersOnly = b }

// Hijack has nothing to hand over on a datagram path.
func (w *writer) Hijack() {}

var _ dns.ResponseWriter = (*writer)(nil)
