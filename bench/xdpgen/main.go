// Command xdpgen is the benchmark's DNS load generator on AF_XDP, built on
// the project's own ring layer (plugin/afxdp/xsk). It writes queries
// straight into the TX ring of one queue of the client's interface, open
// loop at a fixed rate (or as fast as it can), from many client addresses
// and ports, and reads the replies that a small XDP program on the same
// interface redirects to its socket. Replies are matched to queries by
// (client address, client port, DNS ID).
//
//	xdpgen -iface veth-c -server 198.18.0.1 -sources 198.19.0.0/16 -rate 100000 -duration 5s -json
//	xdpgen -iface veth-c -server 198.18.0.1 -stream 198.19.0.0/24:1000 -stream 198.19.128.0/17:0 -json
//
// The server must route the sources back through the client's address (for
// example `ip route add 198.19.0.0/16 via 198.18.0.2` on the server).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type streamFlags []StreamConfig

func (s *streamFlags) String() string { return fmt.Sprint(*s) }

func (s *streamFlags) Set(v string) error {
	p, r, err := parseStream(v)
	if err != nil {
		return err
	}
	*s = append(*s, StreamConfig{Sources: p, Rate: r})
	return nil
}

// benchRanges are where a load may be sent: the test and benchmark ranges
// (RFC 2544's 198.18.0.0/15, unique local fd00::/8) of networks made for it.
var benchRanges = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("fd00::/8")}

func benchRange(a netip.Addr) bool {
	return slices.ContainsFunc(benchRanges, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}

// options are the command line, parsed.
type options struct {
	cfg        Config
	server     string
	cpu        int
	gomaxprocs int
	json       bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("xdpgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	c := &o.cfg
	iface := fs.String("iface", "veth-c", "client-side interface")
	queue := fs.Int("queue", 0, "RX/TX queue to bind")
	srcMAC := fs.String("src-mac", "", "source MAC (default: the interface's)")
	dstMAC := fs.String("dst-mac", "", "destination MAC (default: the server's, from the neighbour table)")
	server := fs.String("server", "198.18.0.1", "server address (IPv4 or IPv6)")
	port := fs.Uint("port", 53, "server port")
	prefix := fs.String("sources", "", "source prefix, e.g. 198.19.0.0/16 or fd00:19::/48 (walked in order, or at random with -random)")
	src := fs.String("src", "", "single source address if no -sources (default: the interface's address)")
	random := fs.Bool("random", false, "draw sources and source ports at random instead of walking them")
	seed := fs.Uint64("seed", 1, "seed for -random and the latency sample")
	sports := fs.String("sport-range", "1024-65535", "source ports LO-HI")
	qfile := fs.String("queries", "", `query file: one "name type" per line (kxdpgun's format)`)
	names := fs.Int("names", 1, "without -queries: ask N distinct names n0..nN-1.ZONE A")
	zone := fs.String("zone", "example.org.", "zone of -names")
	fs.IntVar(&c.First, "first", 0, "index of the first query asked (modulo their number): a run continues another's turn from its next_query")
	edns := fs.Bool("edns", true, "add an EDNS OPT record (1232 bytes)")
	rate := fs.Uint64("rate", 0, "queries/s, open loop; 0: as fast as it can")
	fs.Uint64Var(&c.Batch, "batch", 16, "at a fixed rate, send in batches of up to N queries (never holding one more than 0.5 ms); 1: each query when due")
	var streams streamFlags
	fs.Var(&streams, "stream", "PREFIX:RATE, a stream of its own (repeatable; replaces -sources/-src/-rate)")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "how long to send (at most 10m)")
	fs.DurationVar(&c.Timeout, "timeout", time.Second, "how long to wait for replies after the last query")
	fs.DurationVar(&c.Idle, "idle", 0, "sleep at most this long when there is nothing to do (0: poll; latencies are then exact)")
	fs.IntVar(&o.cpu, "cpu", -1, "pin the sending thread to this CPU")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 2, "GOMAXPROCS")
	fs.BoolVar(&o.json, "json", false, "write the result as JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.Iface, c.Queue, c.Random, c.Seed, o.server = *iface, *queue, *random, *seed, *server
	var err error
	if c.Server, err = netip.ParseAddr(*server); err != nil {
		return nil, fmt.Errorf("-server: %w", err)
	}
	if !benchRange(c.Server) {
		return nil, fmt.Errorf("-server %s: a load goes only to benchmark addresses (198.18.0.0/15, fd00::/8)", c.Server)
	}
	c.Server = c.Server.Unmap()
	if *port == 0 || *port > 65535 {
		return nil, fmt.Errorf("-port %d", *port)
	}
	c.Port = uint16(*port)
	if *srcMAC != "" {
		if c.SrcMAC, err = net.ParseMAC(*srcMAC); err != nil {
			return nil, fmt.Errorf("-src-mac: %w", err)
		}
	}
	if *dstMAC != "" {
		if c.DstMAC, err = net.ParseMAC(*dstMAC); err != nil {
			return nil, fmt.Errorf("-dst-mac: %w", err)
		}
	}
	if c.SportLo, c.SportHi, err = parsePortRange(*sports); err != nil {
		return nil, err
	}
	if c.First < 0 {
		return nil, fmt.Errorf("-first %d: want 0 or more", c.First)
	}
	if c.Duration <= 0 || c.Duration > 10*time.Minute {
		return nil, fmt.Errorf("-duration %s: want more than 0 and at most 10m", c.Duration)
	}
	switch {
	case len(streams) > 0:
		if *prefix != "" || *src != "" || *rate != 0 {
			return nil, errors.New("-stream replaces -sources, -src and -rate: give one or the other")
		}
		c.Streams = streams
	case *prefix != "" && *src != "":
		return nil, errors.New("-sources or -src, not both")
	case *prefix != "" || *src != "":
		p, err := parsePrefix(*prefix + *src)
		if err != nil {
			return nil, err
		}
		if *src != "" && !p.IsSingleIP() {
			return nil, errors.New("-src takes one address; -sources takes a prefix")
		}
		c.Streams = []StreamConfig{{Sources: p, Rate: *rate}}
	default:
		c.Streams = []StreamConfig{{Rate: *rate}} // the interface's address, filled in later
	}
	if *qfile != "" {
		f, err := os.Open(*qfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if c.Queries, err = readQueries(f, *edns); err != nil {
			return nil, fmt.Errorf("%s: %w", *qfile, err)
		}
	} else if c.Queries, err = nameQueries(*names, *zone, *edns); err != nil {
		return nil, fmt.Errorf("-names: %w", err)
	}
	return o, nil
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("xdpgen: ")
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
	runtime.GOMAXPROCS(o.gomaxprocs)
	if o.cpu >= 0 {
		runtime.LockOSThread() // main's goroutine runs the loop
		var set unix.CPUSet
		set.Set(o.cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			log.Fatalf("-cpu %d: %v", o.cpu, err)
		}
	}
	c := &o.cfg
	if !c.Streams[0].Sources.IsValid() {
		a, err := ifaceAddr(c.Iface, c.Server.Is6())
		if err != nil {
			log.Fatal(err)
		}
		c.Streams[0].Sources = netip.PrefixFrom(a, a.BitLen())
	}
	if c.DstMAC == nil {
		if c.DstMAC, err = neighbour(c.Iface, c.Server); err != nil {
			log.Fatal(err)
		}
	}
	g, err := Open(*c)
	if err != nil {
		log.Fatal(err)
	}
	res := g.Run()
	g.Close()
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
		return
	}
	fmt.Print(summary(&res))
}

func summary(r *Result) string {
	var b strings.Builder
	line := func(name string, sent, answered, lost uint64, sps, aps float64, l Latency, rc map[string]uint64) {
		fmt.Fprintf(&b, "%-22s sent %d (%.0f/s) answered %d (%.0f/s) lost %d  latency µs p50 %.0f p90 %.0f p99 %.0f  rcodes %v\n",
			name, sent, sps, answered, aps, lost, l.P50, l.P90, l.P99, rc)
	}
	for _, s := range r.Streams {
		line(s.Sources, s.Sent, s.Answered, s.Lost, s.SentPerS, s.AnsweredPerS, s.Latency, s.Rcodes)
	}
	line("total", r.Sent, r.Answered, r.Lost, r.SentPerS, r.AnsweredPerS, r.Latency, r.Rcodes)
	fmt.Fprintf(&b, "%.2fs, unmatched %d, evicted %d, behind %d, tx errors %d, XDP %s, CPU user %.2fs sys %.2fs, socket %+v\n",
		r.Seconds, r.Unmatched, r.Evicted, r.Behind, r.TxErrors, r.XDPMode, r.CPUUserS, r.CPUSysS, r.XSK)
	return b.String()
}

// ifaceAddr is the interface's first global address of the family.
func ifaceAddr(name string, v6 bool) (netip.Addr, error) {
	nif, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := nif.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, _ := netip.AddrFromSlice(n.IP)
		ip = ip.Unmap()
		if ip.Is6() == v6 && ip.IsGlobalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no address of the server's family: give -src or -sources", name)
}

// neighbour reads the server's MAC from the neighbour table, soliciting it
// with one UDP datagram to the discard port if it is not there yet.
func neighbour(iface string, server netip.Addr) (net.HardwareAddr, error) {
	for try := 0; try < 20; try++ {
		out, err := exec.Command("ip", "-j", "neigh", "show", "to", server.String(), "dev", iface).Output()
		if err != nil {
			return nil, fmt.Errorf("ip neigh: %w", err)
		}
		if mac, ok := parseNeigh(out); ok {
			return mac, nil
		}
		if try == 0 {
			if c, err := net.Dial("udp", netip.AddrPortFrom(server, 9).String()); err == nil {
				c.Write([]byte{0})
				c.Close()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("no neighbour entry for %s on %s: give -dst-mac", server, iface)
}

// parseNeigh reads `ip -j neigh` output: the first entry with a usable
// link-layer address.
func parseNeigh(out []byte) (net.HardwareAddr, bool) {
	var entries []struct {
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &entries); err != nil {
		return nil, false
	}
	for _, e := range entries {
		if e.LLAddr == "" || slices.Contains(e.State, "FAILED") || slices.Contains(e.State, "INCOMPLETE") {
			continue
		}
		if mac, err := net.ParseMAC(e.LLAddr); err == nil && len(mac) == 6 {
			return mac, true
		}
	}
	return nil, false
}
