package dnstest

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/netns"
)

// Exchange sends m from a fresh socket in ns to server over network ("udp"
// or "tcp") and waits up to d for the answer, which must carry m's ID.
func Exchange(ns *netns.NS, server netip.AddrPort, m *dns.Msg, network string, d time.Duration) (*dns.Msg, error) {
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.DialTimeout(network, server.String(), time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	dc := &dns.Conn{Conn: conn, UDPSize: dns.MaxMsgSize}
	defer dc.Close()
	dc.SetDeadline(time.Now().Add(d))
	if err := dc.WriteMsg(m); err != nil {
		return nil, err
	}
	r, err := dc.ReadMsg()
	if err != nil {
		return nil, err
	}
	if r.Id != m.Id {
		return nil, fmt.Errorf("answer id %d for query %d", r.Id, m.Id)
	}
	return r, nil
}
