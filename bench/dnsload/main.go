// Command dnsload sends DNS queries over UDP at a fixed rate (open loop) for
// a bounded time and reports how many were answered, lost, and the latency
// percentiles. It is the benchmark's latency client on the kernel's UDP
// sockets, as a stub resolver sends: the latency runs at half the kernel
// path's peak and the miss storm. Ramps and peaks are xdpgen's (AF_XDP),
// which a kernel socket client could not drive to those rates.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

type result struct {
	Rate     int       `json:"rate"`
	Seconds  float64   `json:"seconds"`
	Sent     int64     `json:"sent"`
	Answered int64     `json:"answered"`
	Lost     int64     `json:"lost"`
	MeanUs   float64   `json:"mean_us"`
	P50us    float64   `json:"p50_us"`
	P99us    float64   `json:"p99_us"`
	P999us   float64   `json:"p999_us"`
	CDFus    []float64 `json:"cdf_us"` // latency at 0.1%, 0.2%, ... 100%
}

func main() {
	server := flag.String("s", "198.18.0.1:53", "server address")
	rate := flag.Int("r", 10000, "queries per second")
	dur := flag.Duration("d", 5*time.Second, "how long to send (at most 60s)")
	socks := flag.Int("n", 8, "sockets (source ports)")
	file := flag.String("f", "", "query file: 'name type' per line")
	flag.Parse()
	if *dur > time.Minute || *dur <= 0 || *rate <= 0 || *socks <= 0 {
		log.Fatal("need 0 < -d <= 60s, -r > 0, -n > 0")
	}
	queries, err := load(*file)
	if err != nil {
		log.Fatal(err)
	}
	res := run(*server, *rate, *dur, *socks, queries)
	json.NewEncoder(os.Stdout).Encode(res)
}

// load packs every query once; senders patch only the ID.
func load(file string) ([][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(fields[0]), dns.StringToType[fields[1]])
		m.SetEdns0(1232, false)
		b, err := m.Pack()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no queries in %s", file)
	}
	return out, nil
}

// conn is one source port: the send time of each ID in flight.
type conn struct {
	c       *net.UDPConn
	sentAt  [65536]int64 // unix ns; 0 = not in flight
	lat     []float64
	answers atomic.Int64
}

func run(server string, rate int, dur time.Duration, nsock int, queries [][]byte) result {
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		log.Fatal(err)
	}
	conns := make([]*conn, nsock)
	var rwg sync.WaitGroup
	for i := range conns {
		c, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			log.Fatal(err)
		}
		c.SetReadBuffer(4 << 20)
		conns[i] = &conn{c: c}
		rwg.Go(func() { conns[i].receive() })
	}
	// Send in 200 µs ticks, spread over the sockets: small bursts, so the
	// latency measured is the server's, not the queueing of a burst. What
	// is owed follows the clock, not the count of ticks: a tick that wakes
	// late (a busy client core) sends what the late ones missed, so the
	// rate offered is the rate asked for.
	const tickLen = 200 * time.Microsecond
	var sent int64
	start := time.Now()
	buf := make([]byte, 0, 512)
	for el := time.Since(start); el < dur; el = time.Since(start) {
		owed := int64(float64(rate)*el.Seconds()) + 1
		for sent < owed {
			c := conns[sent%int64(nsock)]
			q := queries[sent%int64(len(queries))]
			id := uint16(sent / int64(nsock))
			buf = append(buf[:0], q...)
			binary.BigEndian.PutUint16(buf, id)
			atomic.StoreInt64(&c.sentAt[id], time.Now().UnixNano())
			c.c.Write(buf)
			sent++
		}
		time.Sleep(time.Until(start.Add((el/tickLen + 1) * tickLen)))
	}
	elapsed := time.Since(start)
	time.Sleep(time.Second) // stragglers
	var lat []float64
	var answered int64
	for _, c := range conns {
		c.c.Close()
	}
	rwg.Wait()
	for _, c := range conns {
		answered += c.answers.Load()
		lat = append(lat, c.lat...)
	}
	slices.Sort(lat)
	res := result{Rate: rate, Seconds: elapsed.Seconds(), Sent: sent, Answered: answered, Lost: sent - answered}
	if len(lat) > 0 {
		var sum float64
		for _, v := range lat {
			sum += v
		}
		res.MeanUs = sum / float64(len(lat))
	}
	res.P50us, res.P99us, res.P999us = pct(lat, 0.5), pct(lat, 0.99), pct(lat, 0.999)
	for i := 1; i <= 1000; i++ {
		res.CDFus = append(res.CDFus, pct(lat, float64(i)/1000))
	}
	return res
}

func (c *conn) receive() {
	buf := make([]byte, 4096)
	for {
		n, err := c.c.Read(buf)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if n < 12 {
			continue
		}
		id := binary.BigEndian.Uint16(buf)
		t := atomic.SwapInt64(&c.sentAt[id], 0)
		if t == 0 {
			continue
		}
		c.answers.Add(1)
		c.lat = append(c.lat, float64(now-t)/1e3)
	}
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0 // nothing answered: Answered says so
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
