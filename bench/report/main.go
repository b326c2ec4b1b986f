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
//	             others took the chain
//	run.txt      key=value: cmd, date, wall_s, systems, workloads, versions
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

type latency struct {
	Rate     int       `json:"rate"`
	Sent     int64     `json:"sent"`
	Answered int64     `json:"answered"`
	Lost     int64     `json:"lost"`
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
}

type run struct {
	dir  string
	meta map[string]string
	rows map[string]*row
	hot  map[string]map[string]hotCount // sys.wl -> phase -> counts
}

var (
	systems   = []string{"stock", "dnsmasq", "afxdp-off", "afxdp-hot", "knot", "reflector"}
	workloads = []string{"hit4", "hit6", "miss4", "miss6"}
	names     = map[string]string{
		"stock":     "CoreDNS, kernel UDP",
		"dnsmasq":   "dnsmasq, kernel UDP",
		"afxdp-off": "CoreDNS + afxdp, hot off",
		"afxdp-hot": "CoreDNS + afxdp (hot answers)",
		"knot":      "Knot DNS XDP",
		"reflector": "afxdp datapath alone",
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
	}
}

func load(dir string) (*run, error) {
	r := &run{dir: dir, meta: map[string]string{}, rows: map[string]*row{}, hot: map[string]map[string]hotCount{}}
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
		if len(c) != 6 {
			return nil
		}
		h := hotCount{passed: c[5]}
		h.hot, _ = strconv.ParseInt(c[3], 10, 64)
		h.all, _ = strconv.ParseInt(c[4], 10, 64)
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
	b.WriteString("| workload | system | replies/s at saturation | vs kernel path | offered for CPU and latency | CPU µs per answer | p50 µs | p99 µs | p99.9 µs | lost | hot share |\n")
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
				wlNames[wl], names[sys], w.sat, ratio, w.rate, w.cpu, w.lat.P50, w.lat.P99, w.lat.P999, w.lat.Lost, w.lat.Sent,
				r.share(sys+"."+wl, "ramp", "fixed"))
		}
	}
	// The afxdp rows' counters phase by phase.
	var hb strings.Builder
	for _, sys := range []string{"afxdp-hot", "afxdp-off"} {
		for _, wl := range workloads {
			k := sys + "." + wl
			ph := r.hot[k]
			if ph == nil {
				continue
			}
			fmt.Fprintf(&hb, "| %s | %s | %s | %s | %s | %s |\n", names[sys], wlNames[wl],
				counts(ph["ramp"]), r.share(k, "ramp"), counts(ph["fixed"]), r.share(k, "fixed"))
			if p := passedOf(ph); p != "" {
				fmt.Fprintf(&hb, "| | | to the chain (`hot_passed_total` reasons): %s | | | |\n", p)
			}
		}
	}
	if hb.Len() > 0 {
		b.WriteString("\nHot answers, from the server's own counters (`coredns_afxdp_hot_hits_total` over\n" +
			"`coredns_dns_responses_total`, scraped before and after each phase):\n\n" +
			"| system | workload | kxdpgun ramp: hot of all answers | share | dnsload run: hot of all answers | share |\n" +
			"|---|---|---:|---:|---:|---:|\n")
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
	return b.String()
}

func counts(c hotCount) string { return fmt.Sprintf("%d of %d", c.hot, c.all) }

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
	var out []string
	for _, s := range systems {
		for _, wl := range workloads {
			if r.rows[s+"."+wl] != nil {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func (r *run) workloads() []string {
	var out []string
	for _, wl := range workloads {
		for _, s := range systems {
			if r.rows[s+"."+wl] != nil {
				out = append(out, wl)
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
		fmt.Fprintf(&bars, "\t%q", names[s])
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
				curves = append(curves, fmt.Sprintf("%q using 1:2 with lines lw 2 lc %d dt %d title %q", name, i+1, dt, names[s]+", "+wlNames[wl]))
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
		"`hot off`, CoreDNS + afxdp with hot answers (the default) and Knot DNS in XDP mode, the bar to\n" +
		"reach. `make bench-all` (up to 30 minutes; timeout 1800 s) adds dnsmasq, the afxdp datapath\n" +
		"alone and the cache-miss workloads, where hot answers play no part. Each writes its own folder\n" +
		"(results/, results/all/); this page shows the latest run of each, with its wall time.\n\n")
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), Linux %s, %s.\n\n", runtime.NumCPU(), cpu, kernel, runtime.Version())
	b.WriteString(`Testbed: three network namespaces joined by single-queue veth pairs. The server (CoreDNS with
` + "`GOMAXPROCS=1`" + `, knotd, dnsmasq or the reflector) and its veth NAPI thread (threaded NAPI) are
pinned to CPU 1; kxdpgun, dnsload, the client's NAPI thread and the upstream (the same coredns
with the file plugin serving run/example.org.zone) share CPU 0.

Every CoreDNS row runs the Corefile of a caching resolver, the same for all of them:

    .:53 {
        afxdp veth-s      # afxdp rows only; "afxdp veth-s { hot off }" for the hot-off row
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
  server's prometheus endpoint before and after the kxdpgun ramp and the dnsload run.
- *Knot DNS XDP*: knotd serving the same zone authoritatively through its XDP listener
  (so it has no miss workload; nothing to cache).
- *dnsmasq, kernel UDP*: ` + "`dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv\n  --no-hosts --server=198.18.1.2 --cache-size=10000 --listen-address=198.18.0.1\n  --listen-address=fd00::1 --bind-interfaces`" + ` (and ` + "`--user=root`" + `, a pid file and log in the run's
  temporary folder; no DHCP: none configured), a cache and a forwarder to the same upstream, on
  the kernel's UDP socket; Debian's dnsmasq-base (the dnsmasq binary without the package that
  starts a service on the host). Otherwise its defaults, among them at most 150 forwarded
  queries in flight (` + "`--dns-forward-max`" + `), which bounds its misses.
- *afxdp datapath alone*: bench/reflector, the same XDP program and sockets answering every
  query with an empty response through the datapath's worker pool, with no plugin chain. Hot
  answers are written in the receive loop itself, before any worker: they can beat this row.

Queries: 1000 names of the zone (` + "`h0.example.org A`" + ` … ` + "`h999.example.org A`" + `) for
hits, warmed with one second of kxdpgun at 20 k/s before each hit workload (which also fills the
hot table: an entry is made from the chain's reply to a name's first cache hit, so from the
third query of a name on it is answered hot); unique names
under a wildcard of the upstream for misses. kxdpgun's queries carry no OPT record (its query
file has no flags column; a third column ` + "`E`" + ` or ` + "`D`" + ` would add an OPT, still without
options — checked with tcpdump), so they are eligible for hot answers; dnsload's carry an OPT
(1232 bytes, no options), eligible too. A query with any EDNS option (a cookie, ECS, …) always
takes the chain.

- *replies/s at saturation*: kxdpgun offers 50 k/s (misses: 10 k/s), then 1.5x more each step
  (2 s each) while at least 90 % is answered, then bisects three steps between the last good and
  the first short rate; the best replies/s seen. kxdpgun's own round trips have topped out
  near 580–730 k/s on this machine kind: near that ceiling, compare CPU µs per answer instead.
- *CPU µs per answer*: run time on the CPU (schedstat, exact) of every thread of the server
  process and of the server interface's NAPI thread, which does the receive work, over the
  answered queries, while dnsload offers half the kernel path's saturation rate for 5 s.
  At rates this low the server wakes up for nearly every query, and the per-answer figure is
  mostly that wake-up cost; at saturation batching spreads it (one core does all of the server's
  work, so there its cost per answer is at most 1 s over the replies/s).
- *latency*: dnsload's round trip (client socket to client socket) in that same run. It
  includes the client's own kernel and Go runtime time (~150 µs here), the same for every row:
  compare the rows, not the absolute values.
- *hot share*: hot answers over all answers of the server, ramp and dnsload run together.

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
			r.meta["date"], r.meta["wall_s"], r.meta["systems"], r.meta["workloads"], r.meta["knot"], r.meta["dnsmasq"], r.meta["kxdpgun"])
		b.WriteString(summary(r))
		fmt.Fprintf(&b, "\n![throughput](%s/throughput.png)\n\n![latency](%s/latency_cdf.png)\n", r.dir, r.dir)
	}
	return b.String()
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
