package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

// StreamConfig is one stream: its clients' addresses and its rate
// (queries/s, 0: as fast as the generator can).
type StreamConfig struct {
	Sources netip.Prefix
	Rate    uint64
}

// Config is one run of the generator.
type Config struct {
	Iface   string
	Queue   int
	SrcMAC  net.HardwareAddr // default: the interface's
	DstMAC  net.HardwareAddr
	Server  netip.Addr
	Port    uint16
	Streams []StreamConfig
	Random  bool   // draw sources and ports at random instead of walking them
	Batch   uint64 // send a stream's queries in batches of up to this many (at most half a millisecond's worth)
	Seed    uint64
	SportLo uint16
	SportHi uint16
	Queries []query
	First   int // the index of the first query asked (taken modulo len(Queries))
	// Duration is how long to send; Timeout how long to wait for replies
	// after the last query; Idle how long to sleep when there is nothing
	// to do (0: poll without sleeping, for the most precise latencies).
	Duration, Timeout, Idle time.Duration
	XSK                     xsk.Config
}

type stream struct {
	cfg   StreamConfig
	src   *sources
	ports *ports
	pace  pacer
	stats stats
}

// Gen is an open generator: its socket bound and its XDP program attached.
type Gen struct {
	cfg     Config
	sock    *xsk.Socket
	xdp     *redirector
	hdr     *header
	streams []*stream
	tab     table
	all     reservoir

	qi                         int
	unmatched, other, txErrors uint64
	txFull                     uint64
}

// Open binds the socket and attaches the XDP program; it must run in the
// interface's network namespace. Run may then run on any thread.
func Open(cfg Config) (*Gen, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	nif, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return nil, err
	}
	if cfg.SrcMAC == nil {
		cfg.SrcMAC = nif.HardwareAddr
	}
	if cfg.XSK.Frames == 0 {
		cfg.XSK = xsk.DefaultConfig
	}
	g := &Gen{cfg: cfg, hdr: newHeader(cfg.SrcMAC, cfg.DstMAC, cfg.Server, cfg.Port), all: newReservoir(1<<16, cfg.Seed),
		qi: cfg.First % len(cfg.Queries)}
	for i, sc := range cfg.Streams {
		g.streams = append(g.streams, &stream{
			cfg:   sc,
			src:   newSources(sc.Sources, cfg.Random, cfg.Seed+uint64(i)),
			ports: newPorts(cfg.SportLo, cfg.SportHi, cfg.Random, cfg.Seed+uint64(i)),
			pace:  pacer{rate: sc.Rate, maxBacklog: backlogFor(sc.Rate), minBatch: batchFor(sc.Rate, cfg.Batch)},
			stats: stats{lat: newReservoir(1<<15, cfg.Seed+uint64(i)+1)},
		})
	}
	if g.xdp, err = newRedirector(cfg.Port); err != nil {
		return nil, err
	}
	if g.sock, err = xsk.Open(nif.Index, cfg.Queue, cfg.XSK); err != nil {
		g.xdp.Close()
		return nil, err
	}
	if err := g.xdp.add(cfg.Queue, g.sock.FD()); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.xdp.attach(nif.Index); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (c *Config) check() error {
	switch {
	case !c.Server.IsValid():
		return errors.New("no server address")
	case len(c.DstMAC) != 6:
		return errors.New("no destination MAC address")
	case c.SrcMAC != nil && len(c.SrcMAC) != 6:
		return errors.New("bad source MAC address")
	case len(c.Streams) == 0:
		return errors.New("no stream")
	case len(c.Streams) > 1<<16:
		return errors.New("too many streams")
	case len(c.Queries) == 0:
		return errors.New("no queries")
	case c.First < 0:
		return fmt.Errorf("first query %d: want 0 or more", c.First)
	case c.SportLo == 0 || c.SportLo > c.SportHi:
		return errors.New("bad source port range")
	case c.Duration <= 0 || c.Duration > 10*time.Minute:
		return fmt.Errorf("duration %s: want 0 < duration <= 10m", c.Duration)
	case c.Timeout < 0 || c.Timeout > time.Minute:
		return fmt.Errorf("timeout %s: want 0 <= timeout <= 1m", c.Timeout)
	}
	for _, s := range c.Streams {
		if s.Sources.Addr().Is6() != c.Server.Is6() {
			return fmt.Errorf("sources %s and server %s: not the same family", s.Sources, c.Server)
		}
	}
	return nil
}

// XDPMode is how the program is attached (driver or generic).
func (g *Gen) XDPMode() string { return g.xdp.mode }

// Close detaches the program and closes the socket.
func (g *Gen) Close() {
	g.xdp.Close()
	g.sock.Close()
}

const (
	rxBatch = 256
	txBatch = 64
)

// Run sends for the configured duration, then waits for replies until none
// is outstanding or the timeout passes, and returns the counts.
func (g *Gen) Run() Result {
	var ru0, ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	base := time.Now()
	now := func() int64 { return int64(time.Since(base)) + 1 } // > 0: 0 marks a free table entry
	descs := make([]unix.XDPDesc, rxBatch)
	end, stop := int64(g.cfg.Duration), int64(-1)
	var src [16]byte
	for {
		t := now()
		sending := t < end
		if !sending {
			if stop < 0 {
				stop = t
			}
			if g.tab.outstanding == 0 || t-stop >= int64(g.cfg.Timeout) {
				break
			}
		}
		busy := false
		if n := g.sock.Receive(descs); n > 0 {
			busy = true
			for _, d := range descs[:n] {
				g.handle(g.sock.Frame(d), t)
			}
			g.sock.Refill(descs[:n])
		}
		if sending {
			full := false
			for i, s := range g.streams {
				if full {
					break
				}
				k := s.pace.take(t, txBatch)
				var sent uint64
				for ; sent < k; sent++ {
					addr, buf, ok := g.sock.NextTx()
					if !ok {
						g.txFull++
						full = true
						break
					}
					s.src.pick(&src)
					port := s.ports.pick()
					id, ev := g.tab.put(t, &src, port, i)
					if ev >= 0 {
						g.streams[ev].stats.evicted++
					}
					n := g.hdr.build(buf, &g.cfg.Queries[g.qi], &src, port, id)
					if n == 0 || !g.sock.Send(addr, n) {
						g.sock.Release(addr)
						g.tab.cancel(id)
						full = true
						break
					}
					// The next query only once this one went out: the
					// queries are asked in turn, none skipped.
					if g.qi++; g.qi == len(g.cfg.Queries) {
						g.qi = 0
					}
				}
				s.pace.sent(sent)
				s.stats.sent += sent
				busy = busy || sent > 0
			}
		}
		if g.sock.TxPending() > 0 {
			if err := g.sock.Flush(); err != nil {
				g.txErrors++
			}
		}
		if !busy && g.cfg.Idle > 0 {
			time.Sleep(g.idle(t, sending))
		}
	}
	sendNs := min(end, stop)
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	res := g.result(float64(sendNs) / 1e9)
	res.CPUUserS = tvSeconds(ru1.Utime) - tvSeconds(ru0.Utime)
	res.CPUSysS = tvSeconds(ru1.Stime) - tvSeconds(ru0.Stime)
	if st, err := g.sock.Stats(); err == nil {
		res.XSK = XSKStats{RxDropped: st.Rx_dropped, RxInvalid: st.Rx_invalid_descs, TxInvalid: st.Tx_invalid_descs,
			RxRingFull: st.Rx_ring_full, FillRingEmpty: st.Rx_fill_ring_empty_descs, TxRingEmpty: st.Tx_ring_empty_descs}
	}
	return res
}

// idle is how long to sleep with nothing to do: until the next query is
// due, at most the configured idle time.
func (g *Gen) idle(t int64, sending bool) time.Duration {
	d := g.cfg.Idle
	if sending {
		for _, s := range g.streams {
			d = min(d, time.Duration(s.pace.wait(t)))
		}
	}
	return d
}

func (g *Gen) handle(f []byte, t int64) {
	r, ok := parseReply(f, g.cfg.Port)
	if !ok {
		g.other++
		return
	}
	e, ok := g.tab.take(&r)
	if !ok {
		g.unmatched++
		return
	}
	st := &g.streams[e.stream].stats
	st.answered++
	st.rcodes[r.rcode]++
	st.lat.add(t - e.sent)
	g.all.add(t - e.sent)
}

// Result is what a run reports (-json).
type Result struct {
	Seconds      float64           `json:"seconds"` // sending time
	Sent         uint64            `json:"sent"`
	Answered     uint64            `json:"answered"`
	Lost         uint64            `json:"lost"`      // sent, not answered (timed out or evicted)
	Unmatched    uint64            `json:"unmatched"` // replies matching no query in flight
	Other        uint64            `json:"other"`     // redirected frames that were no DNS reply
	Evicted      uint64            `json:"evicted"`   // queries dropped from a full table (counted lost)
	Behind       uint64            `json:"behind"`    // due by the rate but never sent
	TxFull       uint64            `json:"tx_full"`   // times every TX frame was in flight
	TxErrors     uint64            `json:"tx_errors"`
	Rcodes       map[string]uint64 `json:"rcodes"`
	SentPerS     float64           `json:"sent_per_s"`
	AnsweredPerS float64           `json:"answered_per_s"`
	Latency      Latency           `json:"latency_us"`
	CPUUserS     float64           `json:"cpu_user_s"`
	CPUSysS      float64           `json:"cpu_sys_s"`
	XDPMode      string            `json:"xdp_mode"`
	XSK          XSKStats          `json:"xsk"`
	Streams      []StreamResult    `json:"streams,omitempty"` // when there are several
	// NextQuery is the index of the query a run would ask next: a run
	// with -first set to it continues the turn where this one stopped.
	NextQuery int `json:"next_query"`
}

// StreamResult is one stream's share.
type StreamResult struct {
	Sources      string            `json:"sources"`
	Rate         uint64            `json:"rate"`
	Sent         uint64            `json:"sent"`
	Answered     uint64            `json:"answered"`
	Lost         uint64            `json:"lost"`
	Evicted      uint64            `json:"evicted"`
	Behind       uint64            `json:"behind"`
	Rcodes       map[string]uint64 `json:"rcodes"`
	SentPerS     float64           `json:"sent_per_s"`
	AnsweredPerS float64           `json:"answered_per_s"`
	Latency      Latency           `json:"latency_us"`
}

// XSKStats are the kernel's counters of the socket.
type XSKStats struct {
	RxDropped     uint64 `json:"rx_dropped"`
	RxInvalid     uint64 `json:"rx_invalid"`
	TxInvalid     uint64 `json:"tx_invalid"`
	RxRingFull    uint64 `json:"rx_ring_full"`
	FillRingEmpty uint64 `json:"fill_ring_empty"`
	TxRingEmpty   uint64 `json:"tx_ring_empty"`
}

func (g *Gen) result(secs float64) Result {
	r := Result{Seconds: secs, Unmatched: g.unmatched, Other: g.other, TxFull: g.txFull, TxErrors: g.txErrors,
		Rcodes: map[string]uint64{}, Latency: g.all.summary(), XDPMode: g.xdp.mode, NextQuery: g.qi}
	for _, s := range g.streams {
		sr := StreamResult{Sources: s.cfg.Sources.String(), Rate: s.cfg.Rate, Sent: s.stats.sent, Answered: s.stats.answered,
			Lost: s.stats.sent - s.stats.answered, Evicted: s.stats.evicted, Behind: s.pace.behind,
			Rcodes: rcodes(&s.stats.rcodes), Latency: s.stats.lat.summary()}
		if secs > 0 {
			sr.SentPerS, sr.AnsweredPerS = float64(sr.Sent)/secs, float64(sr.Answered)/secs
		}
		r.Sent += sr.Sent
		r.Answered += sr.Answered
		r.Lost += sr.Lost
		r.Evicted += sr.Evicted
		r.Behind += sr.Behind
		for k, v := range sr.Rcodes {
			r.Rcodes[k] += v
		}
		r.Streams = append(r.Streams, sr)
	}
	if secs > 0 {
		r.SentPerS, r.AnsweredPerS = float64(r.Sent)/secs, float64(r.Answered)/secs
	}
	if len(r.Streams) == 1 {
		r.Streams = nil
	}
	return r
}

func rcodes(c *[16]uint64) map[string]uint64 {
	m := map[string]uint64{}
	for i, n := range c {
		if n == 0 {
			continue
		}
		name, ok := dns.RcodeToString[i]
		if !ok {
			name = fmt.Sprintf("RCODE%d", i)
		}
		m[name] = n
	}
	return m
}

func tvSeconds(tv unix.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
