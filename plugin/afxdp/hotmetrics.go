package afxdp

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/metrics/vars"
	"github.com/coredns/coredns/plugin/pkg/rcode"
	"github.com/coredns/coredns/plugin/pkg/response"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/afxdp/afxdp/plugin/afxdp/hot"
)

// A hot answer moves every series the chain's cache hit would have moved,
// with the same labels, in the live vectors CoreDNS registered (never a
// second collector of the same names): prometheus's per-request metrics
// (vars.Report) in blocks that have prometheus, and cache's requests and
// hits everywhere.

// hotSeries are one hot entry's series, resolved when it is filled.
type hotSeries struct {
	requests, responses, do     prometheus.Counter // nil without prometheus (do: without DO)
	reqSize, respSize, duration prometheus.Observer
	cacheRequests, cacheHits    prometheus.Counter

	pending uint64 // hits observed at this flush and not yet counted (the flusher's own)
}

// observe takes h's hits into the histograms, each as one request that
// took perHit, and keeps their number for count. Counters are added once
// per series and flush (count): with many names each entry has a hit or
// two per flush, and five counter adds per entry cost more than the hits'
// observations.
func (s *hotSeries) observe(h *hot.Hits, perHit time.Duration) {
	n := h.N[hot.ShapeNoOPT] + h.N[hot.ShapeOPT]
	s.pending += n
	if s.requests == nil {
		return
	}
	// Histograms have no batch API: one observation per hit, as the chain
	// makes. The sizes are the entry's; the OPT adds 11 bytes to a query.
	for range h.N[hot.ShapeNoOPT] {
		s.reqSize.Observe(float64(h.QueryLen))
	}
	for range h.N[hot.ShapeOPT] {
		s.reqSize.Observe(float64(h.QueryLen + 11))
	}
	for range n {
		s.respSize.Observe(float64(h.ReplyLen))
		s.duration.Observe(perHit.Seconds())
	}
}

// count adds the hits observe kept to the series' counters.
func (s *hotSeries) count() {
	n := float64(s.pending)
	s.pending = 0
	s.cacheRequests.Add(n)
	s.cacheHits.Add(n)
	if s.requests == nil {
		return
	}
	s.requests.Add(n)
	s.responses.Add(n)
	if s.do != nil {
		s.do.Add(n)
	}
}

// seriesKey is what decides a hot entry's label values (the server's and
// the view's are the listener's).
type seriesKey struct {
	p      *blockPolicy
	zone   string // prometheus's zone label ("" without prometheus)
	qtype  string
	rcode  int
	v6, do bool
	denial bool
}

// seriesOf returns the series the chain would move for a cache hit of m,
// the reply written for name in the block of p. Entries that share their
// labels share their series: a fill resolves them once per label set.
func (hl *hotListener) seriesOf(p *blockPolicy, name string, m *dns.Msg, v6 bool) *hotSeries {
	k := seriesKey{p: p, qtype: qTypeLabel(m.Question[0].Qtype), rcode: m.Rcode, v6: v6}
	switch t, _ := response.Typify(m, time.Now().UTC()); t {
	case response.NameError, response.NoData, response.ServerError:
		k.denial = true // cache's ncache; the rest comes from its pcache
	}
	if o := m.IsEdns0(); o != nil && o.Do() {
		k.do = true
	}
	if p.metrics != nil {
		if k.zone = plugin.Zones(p.metrics.ZoneNames()).Matches(name); k.zone == "" {
			k.zone = "."
		}
	}
	hl.seriesMu.Lock()
	defer hl.seriesMu.Unlock()
	if s := hl.series[k]; s != nil {
		return s
	}
	s := hl.newSeries(k)
	hl.series[k] = s
	return s
}

func (hl *hotListener) newSeries(k seriesKey) *hotSeries {
	typ, zones := "success", cacheZonesLabel(k.p)
	if k.denial {
		typ = "denial"
	}
	s := &hotSeries{
		cacheRequests: cacheRequests().WithLabelValues(hl.server, zones, ""),
		cacheHits:     cacheHits().WithLabelValues(hl.server, typ, zones, ""),
	}
	if k.p.metrics == nil {
		return s
	}
	fam := "1"
	if k.v6 {
		fam = "2"
	}
	s.requests = vars.RequestCount.WithLabelValues(hl.server, k.zone, "", "udp", fam, k.qtype)
	if k.do {
		s.do = vars.RequestDo.WithLabelValues(hl.server, k.zone, "")
	}
	s.duration = vars.RequestDuration.WithLabelValues(hl.server, k.zone, "")
	s.respSize = vars.ResponseSize.WithLabelValues(hl.server, k.zone, "", "udp")
	s.reqSize = vars.RequestSize.WithLabelValues(hl.server, k.zone, "", "udp")
	s.responses = vars.ResponseRcode.WithLabelValues(hl.server, k.zone, "", rcode.ToString(k.rcode), pluginLabel(k.p.metrics))
	return s
}

// pluginLabel is the "plugin" label of the chain's answers: the recorder
// of prometheus learns it from the writer that wraps it, which the handler
// right after prometheus was given (plugin.NextOrFailure).
func pluginLabel(m *metrics.Metrics) string {
	if m.Next == nil {
		return ""
	}
	return m.Next.Name()
}

// cacheZone is the zone of the block's cache that covers name, "" if none.
func cacheZone(p *blockPolicy, name string) string {
	return plugin.Zones(p.cache.Zones).Matches(name)
}

// cacheZonesLabel is cache's own "zones" label, which it keeps unexported;
// the join of its zones is what it is made of.
func cacheZonesLabel(p *blockPolicy) string {
	if f := reflect.ValueOf(p.cache).Elem().FieldByName("zonesMetricLabel"); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return strings.Join(p.cache.Zones, ",")
}

// monitoredTypes are the query types prometheus labels by name (its
// vars.monitorType); others are "other".
var monitoredTypes = map[uint16]bool{
	dns.TypeAAAA: true, dns.TypeA: true, dns.TypeCNAME: true, dns.TypeDNSKEY: true, dns.TypeDS: true,
	dns.TypeMX: true, dns.TypeNSEC3: true, dns.TypeNSEC: true, dns.TypeNS: true, dns.TypePTR: true,
	dns.TypeRRSIG: true, dns.TypeSOA: true, dns.TypeSRV: true, dns.TypeTXT: true, dns.TypeHTTPS: true,
	dns.TypeSVCB: true, dns.TypeIXFR: true, dns.TypeAXFR: true, dns.TypeANY: true,
}

func qTypeLabel(t uint16) string {
	if monitoredTypes[t] {
		return dns.Type(t).String()
	}
	return "other"
}

// cache's counters are unexported; registering an identical vector hands
// back the live one (prometheus.AlreadyRegisteredError).
var (
	cacheRequests = sync.OnceValue(func() *prometheus.CounterVec {
		return liveCounterVec(prometheus.CounterOpts{Namespace: plugin.Namespace, Subsystem: "cache",
			Name: "requests_total", Help: "The count of cache requests."}, "server", "zones", "view")
	})
	cacheHits = sync.OnceValue(func() *prometheus.CounterVec {
		return liveCounterVec(prometheus.CounterOpts{Namespace: plugin.Namespace, Subsystem: "cache",
			Name: "hits_total", Help: "The count of cache hits."}, "server", "type", "zones", "view")
	})
)

func liveCounterVec(opts prometheus.CounterOpts, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(opts, labels)
	err := prometheus.DefaultRegisterer.Register(v)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if live, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return live
		}
	}
	// Registered anew (cache not linked in) or refused: counting into an
	// unregistered vector is harmless.
	return v
}
