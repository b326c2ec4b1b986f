package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The READMEs quote the benchmark only through a block this program
// writes between these markers, from the same runs as BENCHMARKS.md, so
// their figures cannot drift from the report (readme_test.go holds the
// committed READMEs to the committed results).
const (
	blockBegin = "<!-- figures: begin (bench/report writes this block from results/ and results/all/; do not edit) -->"
	blockEnd   = "<!-- figures: end -->"
)

// readmes are the files that carry the block.
var readmes = []string{"README.md", "plugin/afxdp/README.md"}

// readmeBlock is the block: the latest make bench run's peaks and CPU per
// answer, its many-sources shares, and make bench-all's working set.
func readmeBlock(runs []*run) string {
	var b strings.Builder
	b.WriteString(blockBegin + "\n\n")
	for _, r := range runs {
		if r.meta["cmd"] != "make bench" {
			continue
		}
		fmt.Fprintf(&b, "From `make bench`, %s (Linux %s; one client address, 1,000 names; load from %s; the whole report: BENCHMARKS.md):\n\n",
			r.meta["date"], r.meta["kernel"], r.meta["generator"])
		b.WriteString("| system | cache hits/s at the peak, IPv4 | IPv6 | server CPU µs per answer at " + kilo(r.meta["cpu_rate"]) + "/s offered |\n|---|---:|---:|---:|\n")
		for _, sys := range systems {
			v4, v6 := r.rows[sys+".hit4"], r.rows[sys+".hit6"]
			if v4 == nil && v6 == nil {
				if why, ok := r.notrun[sys]; ok {
					fmt.Fprintf(&b, "| %s | not run: %s | | |\n", r.name(sys), why)
				}
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.name(sys), satOf(v4), satOf(v6), r.cpuOf(sys))
		}
		for _, m := range r.many {
			if m.sources != "one" && m.xsk >= 0 && m.sent > 0 {
				fmt.Fprintf(&b, "\n%s, %s sources at %d/s: %.1f %% of queries over AF_XDP, %.1f %% through the kernel.",
					r.name(m.sys), m.sources, m.ask, 100*float64(m.xsk)/float64(m.sent), 100*float64(m.kernel)/float64(m.sent))
			}
		}
		b.WriteString("\n")
	}
	for _, r := range runs {
		if r.meta["cmd"] != "make bench-all" || len(r.ws) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nWorking set, from `make bench-all`, %s (IPv4 cache hits of N distinct names):\n\n", r.meta["date"])
		b.WriteString("| system | names | hits/s at the peak | server CPU µs per answer |\n|---|---:|---:|---:|\n")
		for _, sys := range systems {
			for _, w := range r.ws {
				if w.sys != sys {
					continue
				}
				if w.why != "" {
					fmt.Fprintf(&b, "| %s | %s | not run: %s | |\n", r.name(sys), thousands(w.names), w.why)
					continue
				}
				cpu := "–"
				if w.replies > 0 {
					cpu = fmt.Sprintf("%.2f", (w.proc+w.napi+w.softirq)/1000/float64(w.replies))
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", r.name(sys), thousands(w.names), w.peak, cpu)
			}
		}
	}
	b.WriteString("\n" + blockEnd)
	return b.String()
}

func satOf(w *row) string {
	if w == nil || w.sat <= 0 {
		return "–"
	}
	return fmt.Sprintf("%d", w.sat)
}

// cpuOf is sys's CPU per answer in the CPU step, "–" if it had none.
func (r *run) cpuOf(sys string) string {
	for _, c := range r.cpu {
		if c.sys == sys && c.replies > 0 {
			return fmt.Sprintf("%.2f", (c.proc+c.napi+c.softirq)/1000/float64(c.replies))
		}
	}
	return "–"
}

// withBlock is text with its block replaced by block; ok is false if it
// has no block.
func withBlock(text, block string) (string, bool) {
	i := strings.Index(text, blockBegin)
	j := strings.Index(text, blockEnd)
	if i < 0 || j < i {
		return text, false
	}
	return text[:i] + block + text[j+len(blockEnd):], true
}

// writeReadmes puts the block into each README under root that has one.
func writeReadmes(root string, runs []*run) error {
	block := readmeBlock(runs)
	for _, p := range readmes {
		p = filepath.Join(root, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if t, ok := withBlock(string(b), block); ok {
			if err := os.WriteFile(p, []byte(t), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
