// Command report turns the benchmark's results.tsv into a Markdown summary,
// gnuplot data and script (throughput bars, latency CDFs) and BENCHMARKS.md.
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
	"time"
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

var (
	systems   = []string{"stock", "afxdp", "knot", "reflector"}
	workloads = []string{"hit4", "hit6", "miss4", "miss6"}
	names     = map[string]string{"stock": "CoreDNS, kernel UDP", "afxdp": "CoreDNS + afxdp", "knot": "Knot DNS 3.2 XDP", "reflector": "afxdp datapath alone"}
	wlNames   = map[string]string{"hit4": "cache hits, IPv4", "hit6": "cache hits, IPv6", "miss4": "cache misses, IPv4", "miss6": "cache misses, IPv6"}
)

func main() {
	in := flag.String("in", "results/results.tsv", "results of bench.sh")
	out := flag.String("out", "results", "folder for summary.md, data and plots.gp")
	md := flag.String("md", "BENCHMARKS.md", "the document with the latest results")
	cmd := flag.String("cmd", "make bench", "the command that made the results")
	flag.Parse()
	rows, err := read(*in)
	if err != nil {
		log.Fatal(err)
	}
	table := summary(rows)
	must(os.WriteFile(filepath.Join(*out, "summary.md"), []byte(table), 0o644))
	must(plots(rows, *out))
	must(os.WriteFile(*md, []byte(document(table, *cmd, *out)), 0o644))
}

func read(file string) (map[string]*row, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows := map[string]*row{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		c := strings.SplitN(sc.Text(), "\t", 6)
		if len(c) != 6 {
			continue
		}
		r := &row{sys: c[0], wl: c[1]}
		r.sat, _ = strconv.Atoi(c[2])
		r.rate, _ = strconv.Atoi(c[3])
		r.cpu, _ = strconv.ParseFloat(c[4], 64)
		if err := json.Unmarshal([]byte(c[5]), &r.lat); err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.sys, r.wl, err)
		}
		rows[r.sys+"."+r.wl] = r
	}
	return rows, sc.Err()
}

func summary(rows map[string]*row) string {
	var b strings.Builder
	b.WriteString("| workload | system | replies/s at saturation | vs kernel path | offered for CPU and latency | CPU µs per answer | p50 µs | p99 µs | p99.9 µs | lost |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, wl := range workloads {
		for _, sys := range systems {
			r := rows[sys+"."+wl]
			if r == nil {
				continue
			}
			ratio := "1.00x"
			if s := rows["stock."+wl]; s != nil && s.sat > 0 && sys != "stock" {
				ratio = fmt.Sprintf("%.2fx", float64(r.sat)/float64(s.sat))
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %d/s | %.2f | %.0f | %.0f | %.0f | %d of %d |\n",
				wlNames[wl], names[sys], r.sat, ratio, r.rate, r.cpu, r.lat.P50, r.lat.P99, r.lat.P999, r.lat.Lost, r.lat.Sent)
		}
	}
	return b.String()
}

func plots(rows map[string]*row, out string) error {
	var bars strings.Builder
	bars.WriteString("workload")
	for _, s := range systems {
		fmt.Fprintf(&bars, "\t%q", names[s])
	}
	bars.WriteString("\n")
	for _, wl := range workloads {
		fmt.Fprintf(&bars, "%q", wlNames[wl])
		for _, s := range systems {
			v := 0
			if r := rows[s+"."+wl]; r != nil {
				v = r.sat
			}
			fmt.Fprintf(&bars, "\t%d", v)
		}
		bars.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(out, "throughput.dat"), []byte(bars.String()), 0o644); err != nil {
		return err
	}
	var curves []string
	for _, wl := range workloads {
		for _, s := range systems {
			r := rows[s+"."+wl]
			if r == nil || len(r.lat.CDF) == 0 {
				continue
			}
			var d strings.Builder
			for i, v := range r.lat.CDF {
				fmt.Fprintf(&d, "%g\t%g\n", v, float64(i+1)/float64(len(r.lat.CDF)))
			}
			name := fmt.Sprintf("cdf-%s-%s.dat", s, wl)
			if err := os.WriteFile(filepath.Join(out, name), []byte(d.String()), 0o644); err != nil {
				return err
			}
			if strings.HasPrefix(wl, "hit4") || strings.HasPrefix(wl, "miss4") {
				curves = append(curves, fmt.Sprintf("%q using 1:2 with lines lw 2 title %q", name, names[s]+", "+wlNames[wl]))
			}
		}
	}
	gp := `set terminal png size 900,540 font ",10"
set output "throughput.png"
set title "Replies/s at saturation (one server core)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "replies/s"
set yrange [0:*]
set key top right
set grid ytics
plot "throughput.dat" using 2:xtic(1) title col, "" using 3 title col, "" using 4 title col, "" using 5 title col

set output "latency_cdf.png"
set title "Latency at 50% of the kernel path's saturation (IPv4)"
set style data lines
set logscale x
set xlabel "latency (µs)"
set ylabel "fraction of answers"
set yrange [0:1]
set key bottom right
plot ` + strings.Join(curves, ", \\\n     ") + "\n"
	return os.WriteFile(filepath.Join(out, "plots.gp"), []byte(gp), 0o644)
}

func document(table, cmd, out string) string {
	kernel, _ := exec.Command("uname", "-r").Output()
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	knot, _ := exec.Command("knotd", "--version").Output()
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nLatest results of `%s` (%s).\n\n", cmd, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), Linux %s, %s, %s.\n\n", runtime.NumCPU(), cpu, strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(string(knot)))
	b.WriteString(`Testbed: three network namespaces joined by single-queue veth pairs. The server
(CoreDNS with ` + "`GOMAXPROCS=1`" + `, or knotd) and its veth NAPI thread (threaded NAPI) are
pinned to CPU 1; kxdpgun, dnsload, the client's NAPI thread and the upstream (the same coredns
with the file plugin, for misses) share CPU 0. The CoreDNS Corefile is the same for both
CoreDNS rows (` + "`cache` + `forward`" + ` to the upstream), with and without the ` + "`afxdp veth-s`" + ` line.
Knot serves the same zone authoritatively (so it has no miss workload). *afxdp datapath alone*
is bench/reflector: the same XDP program, sockets and worker pool answering every query with an
empty response and no plugin chain, the floor under the afxdp row.

- *replies/s at saturation*: kxdpgun offers 50 k/s (misses: 10 k/s), then 1.5x more each step
  (2 s each) while at least 90 % is answered, then bisects three steps between the last good and
  the first short rate; the best replies/s seen.
- *CPU µs per answer*: run time on the CPU (schedstat, exact) of every thread of the server
  process and of the server interface's NAPI thread, which does the receive work, over the
  answered queries, while dnsload offers half the kernel path's saturation rate for 5 s.
- *latency*: dnsload's round trip (client socket to client socket) in that same run. It
  includes the client's own kernel and Go runtime time (~150 µs here), the same for every row:
  compare the rows, not the absolute values.

`)
	b.WriteString(table)
	fmt.Fprintf(&b, "\n![throughput](%s/throughput.png)\n\n![latency](%s/latency_cdf.png)\n", out, out)
	return b.String()
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
