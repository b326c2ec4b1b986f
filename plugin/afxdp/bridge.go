package afxdp

import (
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/frame"
)

// bridge hands each query of one interface to the CoreDNS server that owns
// its destination address and port, through that server's own ServeDNS:
// zone routing across server blocks, view/acl filters, the EDNS version
// check, CHAOS handling, truncation, metrics and panic recovery are the
// kernel path's, not copies of them.
type bridge struct {
	table   atomic.Pointer[table]
	writers sync.Pool

	noServer   atomic.Uint64 // destination served by the filter but by no live server
	formErr    atomic.Uint64 // queries that did not unpack (answered FORMERR)
	unanswered atomic.Uint64 // ServeDNS wrote nothing (acl drop, shed, ...)
	hotRetired hotCounts     // hot counts of retired listeners (under the registry's lock)
}

func newBridge() *bridge {
	b := &bridge{}
	b.table.Store(newTable(nil))
	b.writers.New = func() any { return &writer{buf: make([]byte, 0, 4096)} }
	return b
}

// AnswerInline runs on the receive loop: a hot answer, or 0 to queue the
// query for ServeFrame.
func (b *bridge) AnswerInline(h *frame.Header, query, out []byte) int {
	l := b.table.Load().lookup(h.Dst, h.DstPort)
	if l == nil || l.hot == nil {
		return 0
	}
	return l.hot.answer(h, query, out)
}

// AnswersInline: does any listener answer hot?
func (b *bridge) AnswersInline() bool { return b.table.Load().hot }

// ServeFrame runs on a datapath worker; a miss blocks only that worker.
func (b *bridge) ServeFrame(r *datapath.Request) {
	l := b.table.Load().lookup(r.Header.Dst, r.Header.DstPort)
	if l == nil {
		b.noServer.Add(1)
		return
	}
	w := b.writers.Get().(*writer)
	w.reset(r, l)
	defer b.writers.Put(w)

	m := new(dns.Msg)
	if err := m.Unpack(r.Payload); err != nil {
		// As miekg/dns's server does: FORMERR with what was unpacked.
		b.formErr.Add(1)
		m.SetRcodeFormatError(m)
		m.Zero = false
		m.Ns, m.Answer, m.Extra = nil, nil, nil
		w.WriteMsg(m)
		return
	}
	if t := m.IsTsig(); t != nil {
		w.tsigMAC = t.MAC
		if secret, ok := l.server.TsigSecret[t.Hdr.Name]; ok {
			w.tsigStatus = dns.TsigVerify(r.Payload, secret, "", false)
		} else {
			w.tsigStatus = dns.ErrSecret
		}
	}
	l.server.ServeDNS(l.ctx, w, m)
	if w.writes == 0 {
		b.unanswered.Add(1)
	}
}
