package afxdp

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/frame"
	"github.com/afxdp/afxdp/plugin/afxdp/hot"
)

// hotFlush is how often hot answers are added to CoreDNS's metrics: a
// scrape sees them at most this late.
const hotFlush = 250 * time.Millisecond

// Hot entries are filed per client family (the hot table's family
// number): the family is a label of CoreDNS's request metrics, and it sets
// the size above which the chain compresses.
const (
	famV4 = 0
	famV6 = 1
)

// hotListener answers one listener's repeated cache hits in the receive
// loop, from a table filled with the chain's own replies. It belongs to one
// generation's server: a reload makes a new one, empty, so an old
// generation's replies never answer for the new one.
type hotListener struct {
	table  *hot.Table
	route  zoneRoute
	server string // the Server's address: CoreDNS's "server" label

	hits       atomic.Uint64                // since the listener started
	xdpHits    atomic.Uint64                // answered by the XDP program (counted at its refreshes)
	busy       atomic.Int64                 // nanoseconds spent answering hot since the last flush
	flushed    uint64                       // hits at the last flush (the flusher's own)
	flushedXDP uint64                       // xdpHits at the last flush
	xdp        bool                         // the XDP program answers this listener's entries too
	passed     [maxHotReasons]atomic.Uint64 // by hot.Reason
	retired    *hotCounts                   // where the counts go when it retires

	seriesMu sync.Mutex
	series   map[seriesKey]*hotSeries // shared by the entries with the same labels
	touched  []*hotSeries             // the series a flush moved (the flusher's own)

	stop chan struct{}
	done sync.WaitGroup
}

// maxHotReasons bounds hot.Reason's values (a test checks it).
const maxHotReasons = 64

// newHotListener returns nil where no block of the server answers hot
// (decideListener); tier is what the interface allows of the XDP program.
func newHotListener(g *generation, s *dnsserver.Server, retired *hotCounts, tier xdpTier) *hotListener {
	if g == nil {
		return nil
	}
	route, why := routeOf(s, g.policies)
	d := decideListener(route, why, tier)
	g.mu.Lock()
	logged := g.hotLog[s.Addr]
	g.hotLog[s.Addr] = true
	g.mu.Unlock()
	if d.entries == 0 {
		if d.why != "" && !logged {
			log.Infof("hot answers off for listener %s: %s", s.Addr, d.why)
		}
		return nil
	}
	hl := &hotListener{table: hot.NewTable(d.entries), route: route, server: s.Addr, stop: make(chan struct{}), retired: retired,
		series: map[seriesKey]*hotSeries{}, xdp: d.xdp}
	if !logged {
		if hl.xdp {
			log.Infof("hot answers for listener %s on %s: in the XDP program and the receive loop", s.Addr, tier.iface)
		} else {
			log.Infof("hot answers for listener %s on %s: in the receive loop only (%s)", s.Addr, tier.iface, d.why)
		}
	}
	hl.done.Add(1)
	go hl.flusher()
	return hl
}

// answer is the receive loop's hook: a hot answer into out, or 0.
func (hl *hotListener) answer(h *frame.Header, query, out []byte) int {
	var q hot.Query
	if r := hot.ParseQuery(query, &q); r != hot.OK {
		hl.passed[r].Add(1)
		return 0
	}
	fam, v6 := familyOf(h.Src)
	start := time.Now()
	n, r := hl.table.Answer(fam, &q, query, v6, start, out, len(out))
	if r != hot.OK {
		hl.passed[r].Add(1)
		return 0
	}
	hl.hits.Add(1)
	hl.busy.Add(int64(time.Since(start)))
	return n
}

// familyOf is the hot table's family number for a client, and whether
// it is an IPv6 one.
func familyOf(client netip.Addr) (uint32, bool) {
	if client.Is4() {
		return famV4, false
	}
	return famV6, true
}

// fill offers the chain's reply m to r for the table, if the block that
// answered it has hot answers and its cache covers the name. start is when
// the chain was handed the query (see hot.Table.Fill).
func (hl *hotListener) fill(r *datapath.Request, m *dns.Msg, start time.Time) {
	if len(m.Question) != 1 || m.Truncated {
		return
	}
	name := strings.ToLower(m.Question[0].Name)
	p := hl.route.route(name)
	if p == nil || !p.on() || cacheZone(p, name) == "" {
		return
	}
	fam, v6 := familyOf(r.Header.Src)
	hl.table.FillMeta(fam, r.Payload, m, start, hl.seriesOf(p, name, m, v6))
}

// flusher adds hot answers to the metrics every hotFlush, and once more
// when the listener retires.
func (hl *hotListener) flusher() {
	defer hl.done.Done()
	t := time.NewTicker(hotFlush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			hl.flush()
		case <-hl.stop:
			hl.flush()
			return
		}
	}
}

// retire stops the flusher after a last flush. Hits that land on the table
// after it (a receive loop that looked the listener up just before) are
// not counted; the window is one lookup long.
func (hl *hotListener) retire() {
	if hl == nil {
		return
	}
	close(hl.stop)
	hl.done.Wait()
	if hl.retired != nil {
		hl.retired.addLive(hl)
	}
}

// hotCounts are the plugin's own hot counters, summed.
type hotCounts struct {
	hits, xdpHits uint64
	evictions     uint64
	passed        [maxHotReasons]uint64
}

func (c *hotCounts) add(o *hotCounts) {
	c.hits += o.hits
	c.xdpHits += o.xdpHits
	c.evictions += o.evictions
	for i := range c.passed {
		c.passed[i] += o.passed[i]
	}
}

func (c *hotCounts) addLive(hl *hotListener) {
	c.hits += hl.hits.Load()
	c.xdpHits += hl.xdpHits.Load()
	c.evictions += hl.table.Evictions()
	for i := range c.passed {
		c.passed[i] += hl.passed[i].Load()
	}
}

// flush moves the entries' hits into CoreDNS's series. Hits of the XDP
// program arrive on the entries at its refreshes; each is observed with
// the receive loop's time per hit of the same period (the program's own,
// a fraction of it, is not measured), 0 if the loop answered none.
func (hl *hotListener) flush() {
	total, xdp := hl.hits.Load(), hl.xdpHits.Load()
	hits, busy := total-hl.flushed, hl.busy.Swap(0)
	fresh := xdp - hl.flushedXDP
	hl.flushed, hl.flushedXDP = total, xdp
	if hits+fresh == 0 {
		return
	}
	var perHit time.Duration
	if hits > 0 {
		perHit = time.Duration(busy / int64(hits))
	}
	touched := hl.touched[:0]
	hl.table.Flush(func(h *hot.Hits) {
		if s, ok := h.Meta.(*hotSeries); ok {
			if s.pending == 0 {
				touched = append(touched, s)
			}
			s.observe(h, perHit)
		}
	})
	for _, s := range touched {
		s.count()
	}
	clear(touched)
	hl.touched = touched
}
