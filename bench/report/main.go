// Command report turns the benchmark's results into a Markdown summary,
// gnuplot data and script (throughput bars, latency CDFs) per run folder,
// and BENCHMARKS.md from every run folder that has results.
//
// A run folder holds, from bench.sh:
//
//	results.tsv  system, workload, replies/s at saturation, offered rate of
//	             the fixed run, CPU µs per answer, dnsload's JSON
//	hot.tsv      afxdp rows: system, workload, phase (ramp, fixed), hot
//	             answers, all answers (the server's counters), reasons the
//	             others took the chain, and (newer runs) the hot answers
//	             the XDP program sent (tier="xdp")
//	overload.tsv system, workload, step (1.5, 2, 4: times the peak; max:
//	             the generator's maximum), rate asked, sent/s and replies/s
//	             (the generator's), the peak, and for the afxdp rows what moved in
//	             the server's counters: handoffs, RX ring full, overload
//	             drops, no_socket passes ("-" for the others); a rate
//	             asked of 0: as fast as the generator can
//	storm.tsv    system, dnsload's JSON for the hits, for the misses, and the
//	             same four counters
//	cpu.tsv      system, rate asked, sent/s, replies/s, sent, replies (the generator's),
//	             run time in ns of the server process, the server interface's
//	             NAPI threads and ksoftirqd/1, CPU 1's busy ns (/proc/stat),
//	             and for the afxdp rows hot answers, of them in XDP, all
//	             answers ("-" for the others)
//	many.tsv     system, sources ("one": veth-c's address; or the prefix
//	             walked), rate asked, basis (fixed; half-peak), the peak,
//	             sent/s, replies/s, sent, replies, lost (the generator's),
//	             queries the server received over AF_XDP (its XDP program's
//	             redirected + answered; "-": not afxdp) and through its
//	             kernel (UDP InDatagrams)
//	names.tsv    the working set: system, names, "ran", what was
//	             configured for them, the warm-up's passes (misses,
//	             second, third: rate, sent, answered; "-": none), the
//	             cache's and the hot table's entries after it, the ramp's peak, its hot
//	             answers (every tier, in XDP, all answers) and cache
//	             misses, the CPU step's rate asked and basis (fixed; peak),
//	             sent/s, replies/s, sent, replies, lost, the server's
//	             process, NAPI, ksoftirqd/1 and CPU 1 ns, its hot answers
//	             (every tier, in XDP, all), the hot table's and the
//	             cache's evictions, and for hot xdp the XDP program's
//	             table: entries after the warm-up, entries refused for
//	             want of room ("-": not that system's); or system,
//	             names, "not run", why
//	notrun.tsv   system, why it did not run (a peer that cannot run on
//	             this kernel, or one that did not answer)
//	binaries.tsv role (a system, the generator, ...), the binary's path,
//	             its sha256, where it came from
//	run.txt      key=value: cmd, date, wall_s, systems, workloads, durations,
//	             what the time budget shed, versions, the load generator
//	             (generator=; none: kxdpgun, the generator of older runs)
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

type latency struct {
	Rate     int       `json:"rate"`
	Sent     int64     `json:"sent"`
	Answered int64     `json:"answered"`
	Lost     int64     `json:"lost"`
	Mean     float64   `json:"mean_us"`
	P50      float64   `json:"p50_us"`
	P99      float64   `json:"p99_us"`
	P999     float64   `json:"p999_us"`
	CDF      []float64 `json:"cdf_us"`
}

type row struct {
	sys, wl   string
	sat, rate int
	cpu       float64
	lat       latency
}

// hotCount is one phase of one afxdp row: answers that were hot, all
// answers, and why the others took the chain.
type hotCount struct {
	hot, all int64
	passed   string
	xdp      int64 // of hot, sent by the XDP program; -1: not recorded
}

// cpuAt is one system at the fixed rate of the CPU step.
type cpuAt struct {
	sys                                   string
	ask, sentPS, repliesPS, sent, replies int64
	proc, napi, softirq, cpu1             float64 // ns
	hot, xdp, all                         string  // "-": not afxdp
}

// step is one fixed rate past a system's peak.
type step struct {
	sys, wl, step            string
	ask, sent, replies, peak int64
	counters                 []string // handoffs, rx ring full, overload drops, no_socket; "-": not afxdp
}

// storm is one system under the miss storm.
type storm struct {
	sys          string
	hits, misses latency
	counters     []string
}

// manyRun is one run of the many-sources step: one source or many.
type manyRun struct {
	sys, sources, basis                               string
	ask, peak, sentPS, repliesPS, sent, replies, lost int64
	xsk                                               int64 // -1: not afxdp
	kernel                                            int64
}

// wsRow is one row of the working set (names.tsv): a system asked N
// distinct names. Counts of -1: not recorded for that system.
type wsRow struct {
	sys, why, conf, basis                       string // why: not run, why ("": it ran)
	names, missRate, missSent, missAns          int64
	hitRate, hitSent, hitAns, cached, hotAtWarm int64
	topRate, topSent, topAns                    int64 // the third pass
	peak, rampHot, rampXDP, rampAll, cacheMiss  int64
	ask, sentPS, repliesPS, sent, replies, lost int64
	proc, napi, softirq, cpu1                   float64 // ns
	hot, xdp, all, hotEvict, cacheEvict         int64
	xdpEntries, xdpRefused                      int64 // hot xdp's XDP table
}

// binary is one program a run ran, from binaries.tsv.
type binary struct{ role, path, sha256, source string }

type run struct {
	dir      string
	meta     map[string]string
	notrun   map[string]string // system -> why it did not run
	bins     []binary
	rows     map[string]*row
	hot      map[string]map[string]hotCount // sys.wl -> phase -> counts
	overload []step
	storms   []storm
	cpu      []cpuAt
	many     []manyRun
	floods   []floodRun
	capacity []capacityRun
	ws       []wsRow
}

var (
	systems   = []string{"stock", "dnsmasq", "dnsdist", "afxdp-off", "afxdp-hot", "afxdp-xdp", "knot", "reflector", "floor"}
	workloads = []string{"hit4", "hit6", "miss4", "miss6"}
	names     = map[string]string{
		"stock":     "CoreDNS, kernel UDP",
		"dnsmasq":   "dnsmasq, kernel UDP",
		"dnsdist":   "dnsdist (packet cache), kernel UDP",
		"afxdp-off": "CoreDNS + afxdp, hot off",
		"afxdp-hot": "CoreDNS + afxdp (hot answers)",
		"afxdp-xdp": "CoreDNS + afxdp (hot answers in XDP)",
		"knot":      "Knot DNS XDP",
		"reflector": "afxdp datapath alone",
		"floor":     "floor: XDP echo (XDP_TX)",
	}
	wlNames = map[string]string{"hit4": "cache hits, IPv4", "hit6": "cache hits, IPv6", "miss4": "cache misses, IPv4", "miss6": "cache misses, IPv6"}
)

func main() {
	runsFlag := flag.String("runs", "results,results/all", "run folders (comma-separated); missing ones are skipped")
	md := flag.String("md", "BENCHMARKS.md", "the document with the latest results of every run folder; empty: none")
	flag.Parse()
	var runs []*run
	for _, dir := range strings.Split(*runsFlag, ",") {
		if _, err := os.Stat(filepath.Join(dir, "results.tsv")); err != nil {
			continue
		}
		r, err := load(dir)
		if err != nil {
			log.Fatal(err)
		}
		must(os.WriteFile(filepath.Join(dir, "summary.md"), []byte(summary(r)), 0o644))
		must(plots(r))
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		log.Fatalf("no results.tsv in %s", *runsFlag)
	}
	if *md != "" {
		must(os.WriteFile(*md, []byte(document(runs)), 0o644))
		must(writeReadmes(".", runs))
	}
}

func load(dir string) (*run, error) {
	r := &run{dir: dir, meta: map[string]string{}, notrun: map[string]string{}, rows: map[string]*row{}, hot: map[string]map[string]hotCount{}}
	err := lines(filepath.Join(dir, "results.tsv"), func(l string) error {
		c := strings.SplitN(l, "\t", 6)
		if len(c) != 6 {
			return nil
		}
		w := &row{sys: c[0], wl: c[1]}
		w.sat, _ = strconv.Atoi(c[2])
		w.rate, _ = strconv.Atoi(c[3])
		w.cpu, _ = strconv.ParseFloat(c[4], 64)
		if err := json.Unmarshal([]byte(c[5]), &w.lat); err != nil {
			return fmt.Errorf("%s %s: %w", w.sys, w.wl, err)
		}
		r.rows[w.sys+"."+w.wl] = w
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = lines(filepath.Join(dir, "hot.tsv"), func(l string) error {
		c := strings.Split(l, "\t")
		if len(c) != 6 && len(c) != 7 {
			return nil
		}
		h := hotCount{passed: c[5], xdp: -1}
		h.hot, _ = strconv.ParseInt(c[3], 10, 64)
		h.all, _ = strconv.ParseInt(c[4], 10, 64)
		if len(c) == 7 {
			h.xdp, _ = strconv.ParseInt(c[6], 10, 64)
		}
		k := c[0] + "." + c[1]
		if r.hot[k] == nil {
			r.hot[k] = map[string]hotCount{}
		}
		r.hot[k][c[2]] = h
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	err = lines(filepath.Join(dir, "overload.tsv"), func(l string) error {
		c := strings.Split(l, "\t")
		if len(c) < 11 {
			return nil
		}
		st := step{sys: c[0], wl: c[1], step: c[2], counters: c[7:]}
		st.ask, _ = strconv.ParseInt(c[3], 10, 64)
		st.sent, _ = strconv.ParseInt(c[4], 10, 64)
		st.replies, _ = strconv.ParseInt(c[5], 10, 64)
		st.peak, _ = strconv.ParseInt(c[6], 10, 64)
		r.overload = append(r.overload, st)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	err = lines(filepath.Join(dir, "storm.tsv"), func(l string) error {
		c := strings.Split(l, "\t")
		if len(c) < 7 {
			return nil
		}
		st := storm{sys: c[0], counters: c[3:]}
		if err := json.Unmarshal([]byte(c[1]), &st.hits); err != nil {
			return fmt.Errorf("storm %s: %w", st.sys, err)
		}
		if err := json.Unmarshal([]byte(c[2]), &st.misses); err != nil {
			return fmt.Errorf("storm %s: %w", st.sys, err)
		}
		r.storms = append(r.storms, st)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	err = lines(filepath.Join(dir, "cpu.tsv"), func(l string) error {
		c := strings.Split(l, "\t")
		if len(c) != 13 {
			return nil
		}
		a := cpuAt{sys: c[0], hot: c[10], xdp: c[11], all: c[12]}
		for i, p := range []*int64{&a.ask, &a.sentPS, &a.repliesPS, &a.sent, &a.replies} {
			*p, _ = strconv.ParseInt(c[1+i], 10, 64)
		}
		for i, p := range []*float64{&a.proc, &a.napi, &a.softirq, &a.cpu1} {
			*p, _ = strconv.ParseFloat(c[6+i], 64)
		}
		r.cpu = append(r.cpu, a)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err := r.loadFloods(); err != nil {
		return nil, err
	}
	err = lines(filepath.Join(dir, "many.tsv"), func(l string) error {
		c := strings.Split(l, "\t")
		if len(c) != 12 {
			return nil
		}
		m := manyRun{sys: c[0], sources: c[1], basis: c[3], xsk: -1}
		for i, p := range []*int64{&m.ask, nil, &m.peak, &m.sentPS, &m.repliesPS, &m.sent, &m.replies, &m.lost} {
			if p != nil {
				*p, _ = strconv.ParseInt(c[2+i], 10, 64)
			}
		}
		if c[10] != "-" {
			m.xsk, _ = strconv.ParseInt(c[10], 10, 64)
		}
		m.kernel, _ = strconv.ParseInt(c[11], 10, 64)
		r.many = append(r.many, m)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	err = lines(filepath.Join(dir, "names.tsv"), func(l string) error {
		c := strings.Split(l, "\t")
		if len(c) == 4 && c[2] == "not run" {
			w := wsRow{sys: c[0], why: c[3]}
			w.names, _ = strconv.ParseInt(c[1], 10, 64)
			r.ws = append(r.ws, w)
			return nil
		}
		if len(c) < 36 || c[2] != "ran" {
			return nil
		}
		c = append(c, "-", "-") // runs before the XDP table's columns
		n := func(i int) int64 {
			v, err := strconv.ParseInt(c[i], 10, 64)
			if err != nil {
				return -1
			}
			return v
		}
		w := wsRow{sys: c[0], conf: c[3], basis: c[21]}
		for i, p := range []*int64{&w.names, nil, nil, &w.missRate, &w.missSent, &w.missAns, &w.hitRate, &w.hitSent, &w.hitAns,
			&w.topRate, &w.topSent, &w.topAns, &w.cached, &w.hotAtWarm, &w.peak, &w.rampHot, &w.rampXDP, &w.rampAll, &w.cacheMiss, &w.ask} {
			if p != nil {
				*p = n(1 + i)
			}
		}
		for i, p := range []*int64{&w.sentPS, &w.repliesPS, &w.sent, &w.replies, &w.lost} {
			*p = n(22 + i)
		}
		for i, p := range []*float64{&w.proc, &w.napi, &w.softirq, &w.cpu1} {
			*p, _ = strconv.ParseFloat(c[27+i], 64)
		}
		for i, p := range []*int64{&w.hot, &w.xdp, &w.all, &w.hotEvict, &w.cacheEvict, &w.xdpEntries, &w.xdpRefused} {
			*p = n(31 + i)
		}
		r.ws = append(r.ws, w)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	err = lines(filepath.Join(dir, "notrun.tsv"), func(l string) error {
		if sys, why, ok := strings.Cut(l, "\t"); ok {
			r.notrun[sys] = why
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	err = lines(filepath.Join(dir, "binaries.tsv"), func(l string) error {
		if c := strings.SplitN(l, "\t", 4); len(c) == 4 {
			r.bins = append(r.bins, binary{c[0], c[1], c[2], c[3]})
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	err = lines(filepath.Join(dir, "run.txt"), func(l string) error {
		if k, v, ok := strings.Cut(l, "="); ok {
			r.meta[k] = v
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return r, nil
}

func lines(file string, f func(string) error) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if err := f(sc.Text()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// gen is the name of the run's load generator: runs before xdpgen used
// Debian's kxdpgun.
func (r *run) gen() string {
	if g := r.meta["generator"]; g != "" {
		return g
	}
	return "kxdpgun"
}

// notRun is the rows of systems that did not run, for a workload: "not
// run: REASON" across the row (cols: the table's columns after the first two).
func (r *run) notRun(wl string, cols int, only []string) string {
	var b strings.Builder
	for _, sys := range systems {
		why, ok := r.notrun[sys]
		if !ok || (only != nil && !contains(only, sys)) || !runs(sys, wl) {
			continue
		}
		if wl == "" {
			fmt.Fprintf(&b, "| %s | not run: %s |%s\n", r.name(sys), why, strings.Repeat(" |", cols-1))
		} else {
			fmt.Fprintf(&b, "| %s | %s | not run: %s |%s\n", wlNames[wl], r.name(sys), why, strings.Repeat(" |", cols-1))
		}
	}
	return b.String()
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// runs says whether a system has a workload: Knot, the reflector and the
// floor have no misses (nothing to cache); "" (no workload): every system.
func runs(sys, wl string) bool {
	switch sys {
	case "knot", "reflector", "floor":
		return !strings.HasPrefix(wl, "miss")
	}
	return true
}

// share is hot answers over all answers of the phases named, as "97.3 %".
func (r *run) share(key string, phases ...string) string {
	var h, a int64
	for _, p := range phases {
		c, ok := r.hot[key][p]
		if !ok {
			return "–"
		}
		h, a = h+c.hot, a+c.all
	}
	if a == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(h)/float64(a))
}

func summary(r *run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Replies/s at saturation: the load generator's ramp (%s); CPU, latency and loss: a dnsload run at the rate offered.\n\n", r.gen())
	b.WriteString("| workload | system | replies/s at saturation (" + r.gen() + ") | vs kernel path | offered for CPU and latency | CPU µs per answer | p50 µs | p99 µs | p99.9 µs | lost | hot share |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, wl := range workloads {
		for _, sys := range systems {
			w := r.rows[sys+"."+wl]
			if w == nil {
				continue
			}
			ratio := "1.00x"
			if s := r.rows["stock."+wl]; s != nil && s.sat > 0 && sys != "stock" {
				ratio = fmt.Sprintf("%.2fx", float64(w.sat)/float64(s.sat))
			} else if sys != "stock" {
				ratio = "–"
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %d/s | %.2f | %.0f | %.0f | %.0f | %d of %d | %s |\n",
				wlNames[wl], r.name(sys), w.sat, ratio, w.rate, w.cpu, w.lat.P50, w.lat.P99, w.lat.P999, w.lat.Lost, w.lat.Sent,
				r.share(sys+"."+wl, "ramp", "fixed"))
		}
		if contains(strings.Fields(r.meta["workloads"]), wl) {
			b.WriteString(r.notRun(wl, 9, strings.Fields(r.meta["systems"])))
		}
	}
	// The afxdp rows' counters phase by phase.
	var hb strings.Builder
	for _, sys := range []string{"afxdp-xdp", "afxdp-hot", "afxdp-off"} {
		for _, wl := range workloads {
			k := sys + "." + wl
			ph := r.hot[k]
			if ph == nil {
				continue
			}
			fmt.Fprintf(&hb, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name(sys), wlNames[wl],
				counts(ph["ramp"]), inXDP(ph["ramp"]), r.share(k, "ramp"), counts(ph["fixed"]), inXDP(ph["fixed"]), r.share(k, "fixed"))
			if p := passedOf(ph); p != "" {
				fmt.Fprintf(&hb, "| | | to the chain (`hot_passed_total` reasons): %s | | | | | |\n", p)
			}
		}
	}
	if hb.Len() > 0 {
		b.WriteString("\nHot answers, from the server's own counters (`coredns_afxdp_hot_hits_total`, every tier, over\n" +
			"`coredns_dns_responses_total`, scraped before and after each phase; *in XDP*: its `tier=\"xdp\"` series,\n" +
			"answers the XDP program sent itself):\n\n" +
			"| system | workload | " + r.gen() + " ramp: hot of all answers | in XDP | share | dnsload run: hot of all answers | in XDP | share |\n" +
			"|---|---|---:|---:|---:|---:|---:|---:|\n")
		b.WriteString(hb.String())
	}
	// The target: hot answers at 6x the kernel path at saturation,
	// on cache hits (misses take the chain whatever the setting).
	var tb strings.Builder
	for _, wl := range []string{"hit4", "hit6"} {
		h, s := r.rows["afxdp-hot."+wl], r.rows["stock."+wl]
		if h == nil || s == nil || s.sat == 0 {
			continue
		}
		x := float64(h.sat) / float64(s.sat)
		verdict := "target met"
		if x < 6 {
			verdict = "below the target"
		}
		fmt.Fprintf(&tb, "- %s: %d vs %d replies/s = %.2fx (%s)", wlNames[wl], h.sat, s.sat, x, verdict)
		if o := r.rows["afxdp-off."+wl]; o != nil && o.sat > 0 {
			fmt.Fprintf(&tb, "; hot off %.2fx; hot on / hot off %.2fx", float64(o.sat)/float64(s.sat), float64(h.sat)/float64(o.sat))
		}
		if o := r.rows["afxdp-off."+wl]; o != nil && o.cpu > 0 && h.cpu > 0 {
			fmt.Fprintf(&tb, "; CPU per answer %.2f µs vs %.2f µs hot off", h.cpu, o.cpu)
		}
		tb.WriteString("\n")
	}
	if tb.Len() > 0 {
		b.WriteString("\nCoreDNS + afxdp with hot answers against CoreDNS on the kernel path, cache hits at saturation\n(the target: at least 6x, IPv4 and IPv6, in one run):\n\n")
		b.WriteString(tb.String())
	}
	// Hot answers in XDP against the floor, the most an XDP_TX answer can
	// reach on this testbed.
	var xb strings.Builder
	for _, wl := range []string{"hit4", "hit6"} {
		x := r.rows["afxdp-xdp."+wl]
		if x == nil {
			continue
		}
		fmt.Fprintf(&xb, "- %s: %d replies/s", wlNames[wl], x.sat)
		if s := r.rows["stock."+wl]; s != nil && s.sat > 0 {
			fmt.Fprintf(&xb, " = %.2fx the kernel path", float64(x.sat)/float64(s.sat))
		}
		if h := r.rows["afxdp-hot."+wl]; h != nil && h.sat > 0 {
			fmt.Fprintf(&xb, ", %.2fx hot answers in the receive loop", float64(x.sat)/float64(h.sat))
		}
		if k := r.rows["knot."+wl]; k != nil && k.sat > 0 {
			fmt.Fprintf(&xb, ", %.0f %% of Knot's %d", 100*float64(x.sat)/float64(k.sat), k.sat)
		}
		if f := r.rows["floor."+wl]; f != nil && f.sat > 0 {
			fmt.Fprintf(&xb, ", %.0f %% of the floor's %d", 100*float64(x.sat)/float64(f.sat), f.sat)
		}
		xb.WriteString("\n")
	}
	if xb.Len() > 0 {
		b.WriteString("\nCoreDNS + afxdp with hot answers in XDP (`hot xdp`), cache hits at saturation:\n\n")
		b.WriteString(xb.String())
	}
	b.WriteString(r.cpuSection())
	b.WriteString(r.manySection())
	b.WriteString(r.floodSection())
	b.WriteString(r.wsSection())
	b.WriteString(r.overloadSection())
	b.WriteString(r.stormSection())
	b.WriteString(r.capacitySection())
	b.WriteString(r.binariesSection())
	if sk := r.meta["skipped"]; sk != "" {
		fmt.Fprintf(&b, "\nShed to stay within the time budget (%s s): %s.\n", r.meta["budget_s"], strings.ReplaceAll(sk, ",", "; "))
	}
	return b.String()
}

// manySection is the table of the many-sources step: each system from
// many client addresses beside the same rate from one.
func (r *run) manySection() string {
	if len(r.many) == 0 {
		return ""
	}
	prefix, clients := "", ""
	for _, m := range r.many {
		if m.sources != "one" {
			prefix = m.sources
		}
	}
	if p, err := netip.ParsePrefix(prefix); err == nil {
		clients = thousands(int64(1) << (p.Addr().BitLen() - p.Bits()))
	}
	rate := perS(r.meta["many_rate"])
	var b strings.Builder
	fmt.Fprintf(&b, "\n### many sources: %s clients\n\n"+
		"IPv4 cache hits after the system's ramp, %s s each: the generator at %s (or half the system's\n"+
		"peak, if lower) from %s (%s addresses walked in order, so each repeats; the server routes them\n"+
		"back via veth-c's address), and at the same rate from one source (veth-c's address). Answered/s\n"+
		"and lost are the generator's; the shares are of the queries it sent: *AF_XDP*, what the server's\n"+
		"XDP program redirected to its socket or answered itself (`coredns_afxdp_xdp_redirected_total` +\n"+
		"`coredns_afxdp_xdp_answered_total`), *kernel*, the UDP datagrams its kernel delivered to a socket\n"+
		"(InDatagrams of /proc/net/snmp in its namespace), each read before and after:\n\n"+
		"| system | offered | many sources: answered/s | lost | AF_XDP share | kernel share | one source: answered/s | lost | AF_XDP share | kernel share |\n"+
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
		clients, r.meta["many_s"], rate, prefix, clients)
	share := func(n, of int64) string {
		if n < 0 {
			return "–"
		}
		return pctOf(n, of)
	}
	for _, sys := range systems {
		var one, many *manyRun
		for i := range r.many {
			m := &r.many[i]
			if m.sys != sys {
				continue
			}
			if m.sources == "one" {
				one = m
			} else {
				many = m
			}
		}
		if many == nil {
			continue
		}
		offered := fmt.Sprintf("%d/s", many.ask)
		if many.basis == "half-peak" {
			offered += fmt.Sprintf(" (half the peak %d)", many.peak)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d of %d | %s | %s |", r.name(sys), offered, many.repliesPS, many.lost, many.sent,
			share(many.xsk, many.sent), share(many.kernel, many.sent))
		if one != nil {
			fmt.Fprintf(&b, " %d | %d of %d | %s | %s |\n", one.repliesPS, one.lost, one.sent, share(one.xsk, one.sent), share(one.kernel, one.sent))
		} else {
			b.WriteString(" – | – | – | – |\n")
		}
	}
	return b.String()
}

// wsSection is the tables of the working set: each system asked N
// distinct names, for each N of the run.
func (r *run) wsSection() string {
	ns, ok := r.meta["ws_names"]
	switch {
	case !ok && len(r.ws) == 0:
		return "\n### Working set: distinct names\n\nNot measured in this run (it predates the working-set row).\n"
	case strings.TrimSpace(ns) == "" && len(r.ws) == 0:
		return "\n### Working set: distinct names\n\nLeft out of this run (WSNAMES=0).\n"
	}
	var sizes []string
	for _, f := range strings.Fields(ns) {
		if v, err := strconv.ParseInt(f, 10, 64); err == nil {
			sizes = append(sizes, thousands(v))
		}
	}
	perS := func(key string) string {
		k := kilo(r.meta[key])
		if strings.HasSuffix(k, "k") {
			k += "/s"
		}
		return k
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Working set: %s distinct names\n\n"+
		"IPv4 cache hits of N distinct names, `n0.ws.example.org` … (a wildcard in the run's copy of the\n"+
		"upstream's zone), after every other row, each system started afresh for each N. The CoreDNS rows ran\n"+
		"their Corefile with `cache { success 2N+4096 }` (its 256 shards, each holding at most its share,\n"+
		"fill unevenly), the afxdp rows also with `hot_entries 2N` (the hot table keeps its 8-way buckets\n"+
		"at most half full), or the most the option takes (*configured* says which); %s\n"+
		"Warm-up, %s asking every name in turn: once, the misses, at %s (the kernel path %s;\n"+
		"at most 80 %% of the system's own miss peak when the run measured it), then once more at %s\n"+
		"(%s; each name's first cache hit, which fills its hot entry, and the names the first pass lost),\n"+
		"sleeping when idle so that the upstream, on the generator's CPU, keeps up. Then the ramp as above\n"+
		"over the N names, asked in turn across the generator's runs, and the server's CPU per answer\n"+
		"(schedstat, as in the CPU step) while %s offers %s of them, or the ramp's peak if lower, for\n"+
		"%s s. *vs 1,000 names*: over the same system's 1,000-name row of this table, or where the run\n"+
		"has none, its IPv4 cache-hit row above (1,000 names, the default Corefile, a 1 s warm-up). The\n"+
		"XDP program's hot table has a fixed size (bpf/hot.go): `hot xdp` answers names beyond it in the\n"+
		"receive loop (*in XDP*: the answers the XDP program sent itself).\n\n"+
		"| names | system | replies/s at saturation (%s) | vs 1,000 names | offered/s | answered/s | server CPU µs per answer | CPU 1 busy µs per answer | ramp: hot share (in XDP) | CPU step: hot share (in XDP) |\n"+
		"|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
		strings.Join(sizes, ", "), knotZone(r), r.gen(), perS("ws_miss"), perS("ws_miss_k"), perS("ws_hit"), perS("ws_hit_k"),
		r.gen(), perS("ws_rate"), r.meta["ws_s"], r.gen())
	share := func(h, x, all int64) string {
		if h < 0 || all <= 0 {
			return "–"
		}
		s := fmt.Sprintf("%.1f %%", 100*float64(h)/float64(all))
		if x > 0 {
			s += fmt.Sprintf(" (%.1f %%)", 100*float64(x)/float64(all))
		}
		return s
	}
	var cb strings.Builder
	for _, n := range r.wsNames() {
		for _, sys := range systems {
			for _, w := range r.ws {
				if w.sys != sys || w.names != n {
					continue
				}
				if w.why != "" {
					fmt.Fprintf(&b, "| %s | %s | not run: %s |%s\n", thousands(n), r.name(sys), w.why, strings.Repeat(" |", 7))
					continue
				}
				vs := "–"
				if base := r.wsBase(sys); base > 0 {
					vs = fmt.Sprintf("%.2fx", float64(w.peak)/float64(base))
				}
				per := func(ns float64) string {
					if w.replies <= 0 {
						return "–"
					}
					return fmt.Sprintf("%.3f", ns/1000/float64(w.replies))
				}
				offered := fmt.Sprintf("%d", w.sentPS)
				if w.basis == "peak" {
					offered += fmt.Sprintf(" (the peak %d asked)", w.ask)
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d | %s | %s | %s | %s |\n", thousands(n), r.name(sys), w.peak, vs, offered,
					w.repliesPS, per(w.proc+w.napi+w.softirq), per(w.cpu1), share(w.rampHot, w.rampXDP, w.rampAll), share(w.hot, w.xdp, w.all))
				fmt.Fprintf(&cb, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", thousands(n), r.name(sys), dash(w.conf),
					pass(w.missRate, w.missSent, w.missAns), pass(w.hitRate, w.hitSent, w.hitAns), pass(w.topRate, w.topSent, w.topAns),
					count(w.cached), count(w.hotAtWarm), count(w.cacheMiss), evictions(w.hotEvict, w.cacheEvict), evictions(w.xdpEntries, w.xdpRefused))
			}
		}
	}
	if cb.Len() > 0 {
		b.WriteString("\nWhat each row was given, and its warm-up checked against the server's own counters: the\n" +
			"passes (*answered of sent*, the generator's; a third pass, as the second, when the cache held fewer\n" +
			"than N names after two), `coredns_cache_entries{type=\"success\"}` and\n" +
			"`coredns_afxdp_hot_entries` after the warm-up (a name more than N: the start's check, www), the\n" +
			"cache misses in the ramp (`coredns_cache_misses_total`: names the warm-up did not leave cached),\n" +
			"what the hot table (`coredns_afxdp_hot_evictions_total`) and the cache\n" +
			"(`coredns_cache_evictions_total`) evicted over the row, and for hot answers in XDP the XDP\n" +
			"program's table: its entries after the warm-up (`coredns_afxdp_hot_xdp_entries`) and the entries\n" +
			"it refused for want of room over the row (`coredns_afxdp_hot_xdp_refused_total{reason=\"full\"}`):\n\n" +
			"| names | system | configured | warm-up: misses | second pass | third pass | cached | hot entries | cache misses in the ramp | evictions: hot table, cache | XDP table: entries, refused |\n" +
			"|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		b.WriteString(cb.String())
	}
	return b.String()
}

// wsBase is what a system's working-set peaks are compared with: its own
// row of 1,000 names, else its IPv4 cache-hit row of 1,000 (0: neither).
func (r *run) wsBase(sys string) int64 {
	for _, w := range r.ws {
		if w.sys == sys && w.names == 1000 && w.why == "" && w.peak > 0 {
			return w.peak
		}
	}
	if h := r.rows[sys+".hit4"]; h != nil {
		return int64(h.sat)
	}
	return 0
}

// wsNames is the working sets of the run, smallest first.
func (r *run) wsNames() []int64 {
	var out []int64
	for _, w := range r.ws {
		if !slices.Contains(out, w.names) {
			out = append(out, w.names)
		}
	}
	slices.Sort(out)
	return out
}

// pass is one warm-up pass: "answered of sent at rate/s", "–" if none.
func pass(rate, sent, answered int64) string {
	if rate < 0 {
		return "–"
	}
	return fmt.Sprintf("%d of %d at %d/s", answered, sent, rate)
}

// count is a counter, "–" where the system has none.
func count(n int64) string {
	if n < 0 {
		return "–"
	}
	return strconv.FormatInt(n, 10)
}

func dash(s string) string {
	if s == "-" || s == "" {
		return "–"
	}
	return s
}

func evictions(hot, cache int64) string {
	if hot < 0 && cache < 0 {
		return "–"
	}
	return count(hot) + ", " + count(cache)
}

// thousands writes n with a comma every three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// cpuSection is the table of CPU per answer at the fixed rate.
func (r *run) cpuSection() string {
	if len(r.cpu) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### CPU per answer at %s offered\n\n"+
		"%s asks for %s/s of IPv4 cache hits for %s s; the server's run time on the CPU (schedstat)\n"+
		"over the answers %s counted: the server process's threads, the NAPI threads of veth-s\n"+
		"(receive, the XDP program and its XDP_TX) and ksoftirqd/1; *CPU 1 busy* is everything that ran on\n"+
		"the server's CPU by /proc/stat (tick-sampled), as a check. A system that cannot answer the rate\n"+
		"offered runs its core flat out: its figure is the cost per answer at its own saturation.\n\n"+
		"| system | offered/s | answered/s | server CPU µs per answer | process | NAPI | ksoftirqd/1 | CPU 1 busy µs per answer | hot (in XDP) of all answers |\n"+
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
		kilo(r.meta["cpu_rate"]), r.gen(), r.meta["cpu_rate"], r.meta["cpu_s"], r.gen())
	for _, sys := range systems {
		for _, c := range r.cpu {
			if c.sys != sys {
				continue
			}
			per := func(ns float64) string {
				if c.replies == 0 {
					return "–"
				}
				return fmt.Sprintf("%.3f", ns/1000/float64(c.replies))
			}
			hot := "–"
			if c.hot != "-" {
				hot = fmt.Sprintf("%s (%s) of %s", c.hot, c.xdp, c.all)
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", r.name(sys), c.sentPS, c.repliesPS,
				per(c.proc+c.napi+c.softirq), per(c.proc), per(c.napi), per(c.softirq), per(c.cpu1), hot)
		}
	}
	if cs := strings.Fields(r.meta["cpu_sys"]); len(cs) > 0 {
		b.WriteString(r.notRun("", 8, cs))
	}
	return b.String()
}

// kilo writes a rate such as 400000 as 400k.
func kilo(rate string) string {
	n, err := strconv.Atoi(rate)
	if err != nil || n%1000 != 0 {
		return rate + "/s"
	}
	return strconv.Itoa(n/1000) + "k"
}

// overloadSection is the table of the fixed rates past each peak.
func (r *run) overloadSection() string {
	if len(r.overload) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n### Overload: cache hits offered past each system's peak\n\n" +
		r.gen() + " at fixed rates for " + r.meta["overstep_s"] + " s each, past the peak that system's ramp found just before\n" +
		"(*asked*: the rate asked of " + r.gen() + "; *generator max*: " + r.maxNote() + "; *offered*: what it sent). Counters: what moved in the\n" +
		"afxdp server's own counters during the step: `coredns_afxdp_handoffs_total`,\n" +
		"`coredns_afxdp_xsk_rx_ring_full_total` (the kernel dropped the excess in the RX ring),\n" +
		"`coredns_afxdp_dropped_total{reason=\"overload\"}` (shed by the receive loop) and\n" +
		"`coredns_afxdp_xdp_passed_total{reason=\"no_socket\"}` (passed to the kernel while a queue was handed off),\n" +
		"and `coredns_afxdp_xsk_rx_dropped_total` (*no free frame*: the kernel's AF_XDP drops other than\n" +
		"a full RX ring" + r.fillNote() + "; \"n/a\": a run made before the benchmark scraped it).\n\n" +
		"| workload | system | peak replies/s | step | asked/s | offered/s | answered/s | of the peak | handoffs | RX ring full | overload drops | no_socket passes | no free frame |\n" +
		"|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	worst := map[string]float64{}
	for _, wl := range workloads {
		for _, sys := range systems {
			for _, st := range r.overload {
				if st.sys != sys || st.wl != wl {
					continue
				}
				name := st.step + "x peak"
				if st.step == "max" {
					name = "generator max"
				}
				frac := 0.0
				if st.peak > 0 {
					frac = float64(st.replies) / float64(st.peak)
				}
				if w, ok := worst[sys]; !ok || frac < w {
					worst[sys] = frac
				}
				c := cells(sys, st.counters)
				ask := strconv.FormatInt(st.ask, 10)
				if st.ask == 0 {
					ask = "max"
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d | %d | %.0f %% | %s | %s | %s | %s | %s |\n",
					wlNames[wl], r.name(sys), st.peak, name, ask, st.sent, st.replies, 100*frac, c[0], c[1], c[2], c[3], c[4])
			}
		}
	}
	b.WriteString("\nThe lowest share of its peak each system kept past it (the target for afxdp: at least 90 %):\n\n")
	for _, sys := range systems {
		w, ok := worst[sys]
		if !ok {
			continue
		}
		verdict := ""
		if strings.HasPrefix(sys, "afxdp") {
			verdict = " (target met)"
			if w < 0.9 {
				verdict = " (below the target)"
			}
		}
		fmt.Fprintf(&b, "- %s: %.0f %%%s\n", r.name(sys), 100*w, verdict)
	}
	for _, sys := range strings.Fields(r.meta["oversys"]) {
		if why, ok := r.notrun[sys]; ok {
			fmt.Fprintf(&b, "- %s: not run: %s\n", r.name(sys), why)
		}
	}
	return b.String()
}

// maxNote says what the overload step "generator max" asked.
func (r *run) maxNote() string {
	if r.gen() == "xdpgen" {
		return "as fast as it can (-rate 0)"
	}
	return "2 M/s asked"
}

// binariesSection is what ran: each program's path and sha256.
func (r *run) binariesSection() string {
	if len(r.bins) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### What ran\n\nLoad generator: %s", r.gen())
	if s := r.meta["generator_src"]; s != "" {
		fmt.Fprintf(&b, " (%s)", s)
	}
	if a := r.meta["generator_args"]; a != "" {
		fmt.Fprintf(&b, "; %s", a)
	}
	b.WriteString(".\n\n| role | binary | sha256 | from | ran |\n|---|---|---|---|---|\n")
	for _, x := range r.bins {
		ran := "yes"
		if why, ok := r.notrun[x.role]; ok {
			ran = "not run: " + why
		}
		role := x.role
		if n, ok := names[role]; ok {
			role = n
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %s | %s |\n", role, x.path, x.sha256, x.source, ran)
	}
	return b.String()
}

// fillNote says whether xsk_rx_fill_ring_empty_total moved with the drops.
func (r *run) fillNote() string {
	n, same := 0, true
	for _, st := range r.overload {
		if len(st.counters) < 6 || st.counters[4] == "-" {
			continue
		}
		n++
		same = same && st.counters[4] == st.counters[5]
	}
	switch {
	case n == 0:
		return ""
	case same:
		return ": `coredns_afxdp_xsk_rx_fill_ring_empty_total` moved by exactly as much in every step, so\nthese are frames that found the fill ring empty"
	default:
		return "; `coredns_afxdp_xsk_rx_fill_ring_empty_total` did not always move with it"
	}
}

// stormSection is the table of the hits under a miss storm.
func (r *run) stormSection() string {
	if len(r.storms) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n### Miss storm: cache hits while misses wait on a silent upstream\n\n" +
		"One RX queue, IPv4; the upstream silent (nftables drops UDP/53 in its namespace); dnsload sends\n" +
		"unique misses at 3 k/s and, at the same time from a second dnsload, cache hits at 10 k/s for\n" +
		r.meta["storm_s"] + " s. The hits' figures (targets for afxdp with hot answers: at least 99.9 % answered,\n" +
		"mean and p99 below the kernel path's), and the afxdp server's counters over the storm:\n\n" +
		"| system | hits sent | hits answered | answered | mean µs | p50 µs | p99 µs | p99.9 µs | misses sent | misses answered | handoffs | RX ring full | overload drops | no_socket passes | no free frame |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	by := map[string]storm{}
	for _, sys := range systems {
		for _, st := range r.storms {
			if st.sys != sys {
				continue
			}
			by[sys] = st
			c := cells(sys, st.counters)
			h := st.hits
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %.0f | %.0f | %.0f | %.0f | %d | %d | %s | %s | %s | %s | %s |\n",
				r.name(sys), h.Sent, h.Answered, pctOf(h.Answered, h.Sent), h.Mean, h.P50, h.P99, h.P999,
				st.misses.Sent, st.misses.Answered, c[0], c[1], c[2], c[3], c[4])
		}
	}
	if h, ok := by["afxdp-hot"]; ok {
		var v []string
		if h.hits.Sent > 0 && float64(h.hits.Answered) >= 0.999*float64(h.hits.Sent) {
			v = append(v, "answered ≥ 99.9 % (met)")
		} else {
			v = append(v, "answered < 99.9 % (not met)")
		}
		if s, ok := by["stock"]; ok {
			cmp := func(what string, a, b float64) {
				if a < b {
					v = append(v, fmt.Sprintf("%s %.0f µs < %.0f µs (met)", what, a, b))
				} else {
					v = append(v, fmt.Sprintf("%s %.0f µs ≥ %.0f µs (not met)", what, a, b))
				}
			}
			cmp("mean", h.hits.Mean, s.hits.Mean)
			cmp("p99", h.hits.P99, s.hits.P99)
		}
		fmt.Fprintf(&b, "\nafxdp with hot answers against the targets: %s.\n", strings.Join(v, "; "))
	}
	return b.String()
}

// cells are the five counter columns of a row: "–" for a system that is not
// afxdp, "n/a" for a counter the run did not scrape.
func cells(sys string, counters []string) []string {
	c := make([]string, 5)
	for i := range c {
		switch {
		case !strings.HasPrefix(sys, "afxdp"):
			c[i] = "–"
		case i < len(counters) && counters[i] != "-":
			c[i] = counters[i]
		default:
			c[i] = "n/a"
		}
	}
	return c
}

func pctOf(a, n int64) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f %%", 100*float64(a)/float64(n))
}

func counts(c hotCount) string { return fmt.Sprintf("%d of %d", c.hot, c.all) }

// inXDP is the hot answers the XDP program sent, "–" where not recorded.
func inXDP(c hotCount) string {
	if c.xdp < 0 {
		return "–"
	}
	return strconv.FormatInt(c.xdp, 10)
}

func passedOf(ph map[string]hotCount) string {
	var out []string
	for _, p := range []string{"ramp", "fixed"} {
		if c, ok := ph[p]; ok && c.passed != "-" && c.passed != "" {
			out = append(out, p+" "+c.passed)
		}
	}
	return strings.Join(out, "; ")
}

// present is the systems of the run, in table order.
func (r *run) present() []string {
	return r.measured(systems, workloads, func(s, wl string) string { return s + "." + wl })
}

// workloads is the workloads of the run, in table order.
func (r *run) workloads() []string {
	return r.measured(workloads, systems, func(wl, s string) string { return s + "." + wl })
}

// measured keeps each of outer that has a row with any of inner.
func (r *run) measured(outer, inner []string, key func(o, i string) string) []string {
	var out []string
	for _, o := range outer {
		for _, i := range inner {
			if r.rows[key(o, i)] != nil {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

func plots(r *run) error {
	sys, wls := r.present(), r.workloads()
	var bars strings.Builder
	bars.WriteString("workload")
	for _, s := range sys {
		fmt.Fprintf(&bars, "\t%q", r.name(s))
	}
	bars.WriteString("\n")
	for _, wl := range wls {
		fmt.Fprintf(&bars, "%q", wlNames[wl])
		for _, s := range sys {
			v := 0
			if w := r.rows[s+"."+wl]; w != nil {
				v = w.sat
			}
			fmt.Fprintf(&bars, "\t%d", v)
		}
		bars.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(r.dir, "throughput.dat"), []byte(bars.String()), 0o644); err != nil {
		return err
	}
	var cols []string
	for i := range sys {
		if i == 0 {
			cols = append(cols, `"throughput.dat" using 2:xtic(1) title col`)
		} else {
			cols = append(cols, fmt.Sprintf(`"" using %d title col`, i+2))
		}
	}
	var curves []string
	for _, wl := range wls {
		for i, s := range sys {
			w := r.rows[s+"."+wl]
			if w == nil || len(w.lat.CDF) == 0 {
				continue
			}
			var d strings.Builder
			for i, v := range w.lat.CDF {
				fmt.Fprintf(&d, "%g\t%g\n", v, float64(i+1)/float64(len(w.lat.CDF)))
			}
			name := fmt.Sprintf("cdf-%s-%s.dat", s, wl)
			if err := os.WriteFile(filepath.Join(r.dir, name), []byte(d.String()), 0o644); err != nil {
				return err
			}
			// One colour per system; misses dashed.
			if wl == "hit4" || wl == "miss4" {
				dt := 1
				if wl == "miss4" {
					dt = 2
				}
				curves = append(curves, fmt.Sprintf("%q using 1:2 with lines lw 2 lc %d dt %d title %q", name, i+1, dt, r.name(s)+", "+wlNames[wl]))
			}
		}
	}
	gp := `set terminal pngcairo size 1100,640 font ",10"
set output "throughput.png"
set title "Replies/s at saturation (one server core)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "replies/s"
set yrange [0:*]
set key outside below horizontal
set grid ytics
plot ` + strings.Join(cols, ", ") + `
`
	if len(curves) > 0 {
		gp += `
set output "latency_cdf.png"
set title "Latency at 50% of the kernel path's saturation (IPv4)"
set style data lines
set logscale x
set xlabel "latency (µs)"
set ylabel "fraction of answers"
set yrange [0:1]
set key outside below vertical maxrows 5
plot ` + strings.Join(curves, ", \\\n     ") + "\n"
	}
	return os.WriteFile(filepath.Join(r.dir, "plots.gp"), []byte(gp), 0o644)
}

func document(runs []*run) string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := runs[0].meta["kernel"]
	if kernel == "" {
		k, _ := exec.Command("uname", "-r").Output()
		kernel = strings.TrimSpace(string(k))
	}
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("`make bench` (under 10 minutes; its timeout is 600 s) runs the rows that matter most for hot\n" +
		"answers, on cache hits over IPv4 and IPv6: CoreDNS on the kernel path, CoreDNS + afxdp with\n" +
		"`hot off`, CoreDNS + afxdp with hot answers (the default), CoreDNS + afxdp with hot answers in\n" +
		"the XDP program (`hot xdp`), Knot DNS in XDP mode, the bar to reach, and the floor (an XDP\n" +
		"program that only echoes each query back); the CPU each of the last four spends per answer at\n" +
		"400k queries/s offered; after the IPv4 ramp of both hot rows and Knot, the overload steps\n" +
		"(cache hits offered past that system's own peak); for the CoreDNS rows the miss storm (hits\n" +
		"while misses wait on a silent upstream); and, last, the working set: both hot rows and Knot\n" +
		"asked 100,000 distinct names. `make bench-all` (up to 30 minutes; timeout 1800 s)\n" +
		"adds dnsmasq, dnsdist, the afxdp datapath alone and the cache-miss workloads, where hot answers\n" +
		"play no part, runs the overload steps on both families and for the kernel path and `hot off`\n" +
		"too, a random-source flood beside real clients, and the working set with 1,000, 10,000, 100,000\n" +
		"and 1,000,000 names, the kernel path too. Both first measure the load generator's own capacity.\n" +
		"Each writes its own folder (results/, results/all/); this page shows the latest run of each, with\n" +
		"its wall time. `OVERSTEP=0`, `STORM=0`, `CPUSTEP=0` or `WSNAMES=0` leaves the overload steps, the\n" +
		"storm, the CPU step or the working set out. Both keep to a time budget (590 s and 1780 s): an\n" +
		"overload step or a storm that would not leave about 40 s for each row still to come and the\n" +
		"working set's estimated time is shed, and so is a working-set row that would not fit (the\n" +
		"largest sets come last); the run's section says which.\n\n")
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), Linux %s, %s.\n\n", runtime.NumCPU(), cpu, kernel, runtime.Version())
	b.WriteString(`Testbed: three network namespaces joined by single-queue veth pairs. The server (CoreDNS with
` + "`GOMAXPROCS=1`" + `, knotd, dnsmasq, the reflector or the floor) and its veth NAPI thread (threaded
NAPI) are pinned to CPU 1; the load generator, dnsload, the client's NAPI thread and the upstream
(the same coredns with the file plugin serving run/example.org.zone, to which the run's copy adds
` + "`*.ws IN A 198.18.10.5`" + ` for the working set) share CPU 0. Answers sent
with XDP_TX (the floor, hot answers in XDP) go from veth-s straight into veth-c's ring; veth takes
them only while veth-c has NAPI (GRO on, as the testbed sets it) and wakes that NAPI only while
veth-c has an XDP program of its own, so for those two rows veth-c gets one that passes
everything while dnsload runs (the load generator brings its own). The client's NAPI thread
runs at ` + "`SCHED_FIFO`" + ` priority 10, above the generator, as a NIC's interrupt would preempt it
(runs until 2026-12 left it at the generator's priority, and veth-c's 256-frame ring overflowed
from about 250 k/s on: 5–15 % of the floor's XDP_TX answers were lost on the client's side).

The load generator (ramps, warm-ups, overload steps, the CPU step) is *xdpgen* (bench/xdpgen):
an AF_XDP generator on the project's own ring layer, bound to queue 0 of veth-c (the testbed's
one queue), pinned to CPU 0 (` + "`taskset -c 0`, `-cpu 0`, `-gomaxprocs 1`" + `), open loop at the rate
asked (in batches of up to 16, never holding a query more than 0.5 ms) or, for the overload step
*generator max*, as fast as it can; it sends from veth-c's address and counts a reply when its
address, port and DNS ID match a query in flight, up to 0.5 s after the last query. Its small XDP
program uses no ` + "`bpf_xdp_adjust_meta`" + `. Runs until 2026-12 used Debian's kxdpgun
(knot-dnsutils 3.2.6) instead, which cannot load its XDP program on kernels that refuse that helper
(Linux 6.18 here), nor can knotd's XDP mode. A run probes knotd in XDP mode once at its start;
when the kernel refuses that helper, knotd runs with a copy of Debian's libknot in which the
program's one call of it is replaced by ` + "`r0 = 0`" + ` (bench/knotpatch; Knot's program copes
with a missing metadata area, as on a tap device), loaded through ` + "`LD_LIBRARY_PATH`" + `, and
Knot's rows say *patched: adjust_meta call removed*; when knotd cannot run even so, its rows say
*not run*, with the reason. Each run's section names its generator and lists the binaries and
libraries it ran with their sha256.

Every CoreDNS row runs the Corefile of a caching resolver, the same for all of them:

    .:53 {
        afxdp veth-s      # afxdp rows only; "afxdp veth-s { hot off }" for the hot-off row,
                          # "afxdp veth-s { hot xdp }" for hot answers in XDP
        errors
        cache
        forward . 198.18.1.2
        prometheus 127.0.0.1:9153
    }

- *CoreDNS, kernel UDP*: that Corefile without the afxdp line (stock CoreDNS plugins, the
  kernel's UDP socket).
- *CoreDNS + afxdp, hot off*: every query the XDP program redirects goes through the plugin
  chain (` + "`hot off`" + ` in the afxdp block).
- *CoreDNS + afxdp (hot answers)*: the default; repeated cache hits are answered in the AF_XDP
  receive loop from the chain's own earlier replies, without running the chain (` + "`errors`" + ` and
  ` + "`prometheus`" + ` ahead of ` + "`cache`" + ` do not prevent it). *hot share* is
  ` + "`coredns_afxdp_hot_hits_total`" + ` over ` + "`coredns_dns_responses_total`" + `, scraped from the
  server's prometheus endpoint before and after the generator's ramp and the dnsload run.
- *CoreDNS + afxdp (hot answers in XDP)*: ` + "`hot xdp`" + ` in the afxdp block: hot answers are also
  sent by the XDP program itself (XDP_TX), without reaching the AF_XDP socket. Its hot share
  counts every tier (` + "`coredns_afxdp_hot_hits_total`" + ` summed over ` + "`tier`" + `); *in XDP* is the
  ` + "`tier=\"xdp\"`" + ` series alone.
- *Knot DNS XDP*: knotd serving the same zone authoritatively through its XDP listener
  (so it has no miss workload; nothing to cache).
- *dnsmasq, kernel UDP*: ` + "`dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv\n  --no-hosts --server=198.18.1.2 --cache-size=10000 --listen-address=198.18.0.1\n  --listen-address=fd00::1 --bind-interfaces`" + ` (and ` + "`--user=root`" + `, a pid file and log in the run's
  temporary folder; no DHCP: none configured), a cache and a forwarder to the same upstream, on
  the kernel's UDP socket; Debian's dnsmasq-base (the dnsmasq binary without the package that
  starts a service on the host). Otherwise its defaults, among them at most 150 forwarded
  queries in flight (` + "`--dns-forward-max`" + `), which bounds its misses.
- *dnsdist (packet cache), kernel UDP*: Debian's dnsdist 1.7 with a packet cache of 100,000
  entries in front of the same upstream, listening on the server's two addresses (its ACL opened
  to the testbed's ranges, security polling off, no console), on the kernel's UDP sockets; every
  thread on CPU 1. The user-space cache operators put in front of resolvers for fast hits.
- *afxdp datapath alone*: bench/reflector, the same XDP program and sockets answering every
  query with an empty response through the datapath's worker pool, with no plugin chain. Hot
  answers are written in the receive loop itself, before any worker: they can beat this row.
- *floor: XDP echo (XDP_TX)*: bench/floor, an XDP program (native mode, a bpf_link) that turns
  every UDP query to port 53 back into its sender's frame: MACs, IP addresses (IPv4, or IPv6
  without extension headers; at most one 802.1Q tag) and ports swapped, QR set, the UDP checksum
  updated for that one bit (RFC 1624; an IPv4 zero checksum stays zero), XDP_TX; no maps, nothing
  else parsed. It answers an empty response, nothing looked up: no DNS server on this testbed can
  answer for less, so it is the ceiling of what an XDP_TX answer reaches here.

Queries: 1000 names of the zone (` + "`h0.example.org A`" + ` … ` + "`h999.example.org A`" + `) for
hits, warmed with one second of the generator at 20 k/s before each hit workload of the caching rows
(Knot, the reflector and the floor have nothing to warm; the warm-up also fills the
hot table: an entry is made from the chain's reply to a name's first cache hit, so from the
third query of a name on it is answered hot); unique names
under a wildcard of the upstream for misses. The generator's queries carry no OPT record (xdpgen
with ` + "`-edns=false`" + `; kxdpgun's query file had no flags column; a third column ` + "`E`" + ` or ` + "`D`" + ` would
have added an OPT, still without options — checked with tcpdump), so they are eligible for hot
answers; dnsload's carry an OPT
(1232 bytes, no options), eligible too. A query with any EDNS option (a cookie, ECS, …) always
takes the chain.

- *replies/s at saturation*: the generator offers 50 k/s (misses: 10 k/s), then 1.5x more each
  step (1.5 s each) while at least 90 % is answered, then bisects three steps between the last good
  and the first short rate; the best replies/s seen. A step in which the generator could not send
  90 % of the rate asked (its own ceiling, or veth pushing back) while the server answered at least
  90 % of what it sent ends the ramp: the generator is the limit there. The generator shares CPU 0
  with the client's NAPI thread, so its round trips top out below what it can send (kxdpgun's
  near 580–730 k/s on this machine kind): near that ceiling, compare CPU µs per answer instead.
  (Runs before the floor and ` + "`hot xdp`" + ` rows used 2 s ramp steps, 5 s dnsload runs, 3 s overload
  steps and a 10 s storm; each kxdpgun run also took about 2 s of its own, so the steps were
  shortened to keep ` + "`make bench`" + ` under its timeout.)
- *CPU µs per answer*: run time on the CPU (schedstat, exact) of every thread of the server
  process and of the server interface's NAPI thread, which does the receive work, over the
  answered queries, while dnsload offers half the kernel path's saturation rate for 3 s.
  At rates this low the server wakes up for nearly every query, and the per-answer figure is
  mostly that wake-up cost; at saturation batching spreads it (one core does all of the server's
  work, so there its cost per answer is at most 1 s over the replies/s).
- *latency*: dnsload's round trip (client socket to client socket) in that same run. It
  includes the client's own kernel and Go runtime time (~150 µs here), the same for every row:
  compare the rows, not the absolute values.
- *hot share*: hot answers over all answers of the server, ramp and dnsload run together.
- *CPU per answer at 400k offered* (Knot, the floor and both hot rows; after the workloads, so
  the cache and hot tables are warm): the generator asks for exactly 400 k/s of the IPv4 hits for 3 s.
  The server's run time on the CPU (schedstat) is read before and after: every thread of the
  server process, the NAPI threads of veth-s (with threaded NAPI they do the receive work, run the
  XDP program and its XDP_TX, and wake the server: an XDP_TX answer costs nothing anywhere else)
  and ksoftirqd/1 (softirq work deferred on CPU 1); over the answers the generator counted. This kernel
  has no ` + "`IRQ_TIME_ACCOUNTING`" + `: interrupt and softirq time counts to whichever thread
  it interrupted, and none to a thread when the CPU was idle; so *CPU 1 busy*, everything that ran
  on CPU 1 by /proc/stat (user, system, irq, softirq; sampled at the tick), is shown beside it. A
  system that cannot answer 400 k/s runs flat out there: its figure is its cost per answer at its
  own saturation.
- *overload* (cache hits; after the dnsload run): the generator at fixed rates of 1.5x, 2x and 4x
  the peak that system's ramp found just before, 2 s each, and for the afxdp rows with hot answers
  and Knot also at the generator's maximum (xdpgen: as fast as it can; kxdpgun: 2 M/s asked): in
  ` + "`make bench`" + ` for the two hot rows and Knot on IPv4, in ` + "`make bench-all`" + ` also for the kernel
  path and ` + "`hot off`" + `, on both families. The generator's own counts: what it sent (*offered*; on this kernel veth pushes back on a
  sender whose peer's ring is full, so what is offered can fall short of what was asked) and the
  replies per second, over the peak.
  The peak is the ramp's best at no more than 10 % loss, so a system can answer more than its
  peak past it (over 100 %). For the afxdp rows the server's counters are scraped around each
  step: handoffs to the kernel listener, the kernel's AF_XDP drops (RX ring full; no free frame
  in the fill ring), the receive loop's overload drops, and frames the XDP program passed for
  want of a socket. Steps of 2 s against a peak from 1.5 s ramp steps are noisy: the same step of
  the same system has varied by 20–35 points of its peak between runs on one day, so read the
  counters (handoffs, no_socket passes) as the verdict on the mechanism and the shares across
  several steps and runs.
- *many sources* (` + "`make bench`" + `: the kernel path and both hot rows; IPv4 cache hits, after
  that system's ramp and overload steps): the generator at 100 k/s, or half the system's peak if
  that is lower (the kernel path), for 3 s from the 65,536 addresses of 198.19.0.0/16 (walked in
  order, each address once per 65,536 queries; the server routes 198.19.0.0/16 via veth-c's
  address, set once with the testbed), beside the same rate for 3 s from veth-c's one address.
  The generator's XDP program takes every UDP frame from the server's port, whatever its
  destination, so the addresses need not be the client's. The server's counters say where the
  queries went: over AF_XDP (the XDP program's ` + "`coredns_afxdp_xdp_redirected_total`" + ` and
  ` + "`coredns_afxdp_xdp_answered_total`" + `) or through its kernel (UDP InDatagrams in
  /proc/net/snmp of its namespace). afxdp's route check does one FIB lookup per query and keeps
  no state per source, so the share over AF_XDP should not fall with the number of clients
  (with the per-source verdict cache of earlier versions, 65,536 sources at 20 k/s sent 94.6 %
  to the kernel).
- *random-source flood* (` + "`make bench-all`" + `: the kernel path, dnsdist, both hot rows and Knot;
  IPv4 cache hits, after the many-sources runs): one generator sends two streams at once for 3 s:
  the flood, 1.5x the system's own peak from sources drawn at random in 198.19.0.0/16 (and random
  source ports), and 10 k/s of real clients from veth-c's address. Every flood query is a cache
  hit from a client the server has not seen, so a server that keeps state per source (a verdict,
  a rate limit, a conntrack entry) pays for it here. The figures are the real clients' answered
  share and latency, and what the flood got answered. Where the flood's *sent/s* is below what
  was asked, the generator was the limit (it matches every reply to its query).
- *the generator's capacity* (both commands, before the systems): bench/floor -sink, an XDP
  program on veth-s (native mode, CPU 1 like every server) that drops every IPv4 frame and counts
  it, and the generator sending the IPv4 hits as fast as it can for 2 s with nothing answered:
  what it can put through veth into the server's core. With replies matched to queries, its
  ceiling is the floor's peak in the same run. A system whose peak is well below both is not
  measuring the generator.
- *miss storm* (the CoreDNS rows, IPv4, the one RX queue): after the hit workloads the
  upstream goes silent (an nftables rule in its namespace drops UDP/53 and TCP/53; the server's
  cache keeps the hits), then two dnsload instances run at once for 6 s: unique names under
  ` + "`*.miss.example.org`" + ` at 3 k/s, and the 1000 hit names at 10 k/s (warmed first by dnsload itself,
  1 s at 5 k/s: its queries carry an OPT record, so their hot entries are not the generator's). The
  hits' answered share, mean and percentiles are the figures; *misses answered* are replies to
  misses within 1 s of the end (SERVFAIL once ` + "`forward`" + ` gives up), for what the server did with them.
  dnsload sends on the clock (what is owed follows elapsed time), so a busy client core does not
  lower the rate offered.
- *working set* (` + "`make bench`" + `: 100,000 names, both hot rows and Knot; ` + "`make bench-all`" + `: 1,000,
  10,000, 100,000 and 1,000,000 names, also the kernel path; IPv4 cache hits, after every other
  row): each system is started afresh for each N, its cache given room for N names
  (` + "`cache { success 2N+4096 }`" + `: the cache's 256 shards fill unevenly) and the afxdp rows'
  hot table too (` + "`hot_entries 2N`" + `: it keeps its 8-way buckets at most half full; or the most
  the option takes, 1,048,576 when this was written: with 1,000,000 names its buckets are then
  nearly half full on average, and the fullest overflow and evict), the rest of the Corefile as
  above. The names are
  ` + "`n0.ws.example.org`" + ` … ` + "`n<N-1>.ws.example.org`" + ` (xdpgen ` + "`-names`" + `; a wildcard of the
  upstream's zone, and of Knot's). Warm-up: the generator asks every name once, the misses, at
  12 k/s for the afxdp rows and 10 k/s for the kernel path (at most 80 % of the system's own
  miss peak when the run measured one), then once more at 30 k/s (20 k/s),
  sleeping when idle (polling, it starved the upstream on its CPU and misses were lost): the
  second pass is each name's first cache hit, which fills its hot entry, and asks again what the
  first pass lost; a third pass runs if the cache still holds fewer than N names. Those rates
  keep up for a minute here (the ramp's 1.5 s steps find higher peaks than that); with
  1,000,000 names the server's heap, and its garbage collector's stalls, grow with the cache, and
  a few % of a pass can still be lost: the server's counters after the warm-up (cache entries,
  hot entries) and the cache misses during the ramp say how complete it was. Then the ramp as
  above over the N names, asked in turn (each generator run continues where the last stopped,
  ` + "`-first`" + `), and the server's CPU per answer as in the CPU step while the generator offers
  400 k/s of them, or the ramp's peak if that is lower (the server then runs at about its own
  saturation, instead of spending its core on what it drops), for 3 s. Hot share and *in XDP*
  as above; the XDP program's table has a fixed size (bpf/hot.go), and ` + "`hot xdp`" + ` answers names
  beyond it in the receive loop.

Absolute figures differ several-fold between VMs of this kind and from day to day (an earlier
run on this machine kind saw the kernel path near 78 k/s and Knot near 650 k/s): compare the
rows of one run, not runs.
`)
	for _, r := range runs {
		cmd := r.meta["cmd"]
		if cmd == "" {
			cmd = r.dir
		}
		fmt.Fprintf(&b, "\n## `%s`\n\n", cmd)
		fmt.Fprintf(&b, "Run %s; wall time %s s (from start to the report). Systems: %s; workloads: %s. %s; %s; %s.\n\n",
			r.meta["date"], r.meta["wall_s"], r.meta["systems"], r.meta["workloads"], r.meta["knot"], versions(r), r.genLine())
		b.WriteString(summary(r))
		fmt.Fprintf(&b, "\n![throughput](%s/throughput.png)\n\n![latency](%s/latency_cdf.png)\n", r.dir, r.dir)
	}
	return b.String()
}

// genLine names the run's load generator for the run's heading.
func (r *run) genLine() string {
	if r.meta["generator"] == "" {
		return "load generator: " + r.meta["kxdpgun"]
	}
	g := "load generator: " + r.meta["generator"]
	if s := r.meta["generator_src"]; s != "" {
		g += " (" + s + ")"
	}
	if n := r.meta["notrun"]; n != "" {
		g += "; not run: " + strings.ReplaceAll(n, ",", ", ") + " (see below)"
	}
	return g
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// name is how a system's rows are labelled: its name, and whether it ran
// with a patched library (binaries.tsv says "patched: ..." of a binary in
// its role), so that no figure of a changed peer reads as the package's.
func (r *run) name(sys string) string {
	n := names[sys]
	for _, b := range r.bins {
		if b.role == sys && strings.HasPrefix(b.source, "patched: ") {
			what, _, _ := strings.Cut(strings.TrimPrefix(b.source, "patched: "), " (")
			return n + " (patched: " + what + ")"
		}
	}
	return n
}
