package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/dnstest"
	"github.com/afxdp/afxdp/plugin/afxdp/frame"
)

// inlineEcho answers names under inline. in the receive loop (a TXT saying
// so) and leaves the rest to echo, on a worker.
type inlineEcho struct{ blocked chan struct{} }

func (e inlineEcho) ServeFrame(r *Request) {
	<-e.blocked // every worker stuck, as behind a silent upstream
	echo(r)
}

func (inlineEcho) AnswersInline() bool { return true }

func (inlineEcho) AnswerInline(h *frame.Header, query, out []byte) int {
	var q dns.Msg
	if q.Unpack(query) != nil || len(q.Question) != 1 || !strings.HasPrefix(q.Question[0].Name, "inline.") {
		return 0
	}
	var m dns.Msg
	m.SetReply(&q)
	m.Answer = append(m.Answer, &dns.TXT{
		Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 30},
		Txt: []string{"inline"},
	})
	b, err := m.PackBuffer(out)
	if err != nil || &b[0] != &out[0] {
		return 0 // did not fit in out
	}
	return len(b)
}

// TestInlineAnswers: with every worker blocked and every slot taken by a
// stuck query, inline answers still go out, from the receive loop.
func TestInlineAnswers(t *testing.T) {
	tb := newTestbed(t)
	h := inlineEcho{blocked: make(chan struct{})}
	opts := DefaultOptions()
	opts.MaxWorkers, opts.MaxPending, opts.Batch = 2, 8, 8
	i := openWith(t, tb, opts, h)
	defer close(h.blocked)
	prime(t, tb, i, "inline.example.")
	// Fill the slots with queries that will wait (their clients give up).
	var stuck sync.WaitGroup
	defer stuck.Wait()
	for k := range 40 { // 8 slots on each of the two queues: many are shed
		stuck.Go(func() {
			q := new(dns.Msg)
			q.SetQuestion(fmt.Sprintf("stuck%d.example.", k), dns.TypeTXT)
			dnstest.Exchange(tb.cli, netip.AddrPortFrom(srv4, 53), q, "udp", 100*time.Millisecond)
		})
	}
	time.Sleep(200 * time.Millisecond)
	for k := range 20 {
		r, err := exchange(t, tb, srv4, "inline.example.")
		if err != nil {
			t.Fatalf("inline query %d: %v", k, err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "inline" {
			t.Fatalf("inline query %d: %v", k, r)
		}
	}
	var overload uint64
	for _, s := range i.Stats() {
		overload += s.Drops[DropOverload]
	}
	if h := handoffs(i); h != 0 || overload == 0 {
		t.Errorf("handoffs %d, shed %d: want the queries without a slot shed, not the queue handed off", h, overload)
	}
}
