package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// floodRun is one line of flood.tsv: real clients' hits beside a flood
// from random sources at 1.5x the system's peak.
type floodRun struct {
	sys                                 string
	peak, floodAsk, floodSent, floodAns int64
	realAsk, realSent, realAns          int64
	p50, p90, p99, max                  float64 // µs, the real clients'
}

// capacityRun is one line of capacity.tsv: the generator as fast as it
// can into a sink that answers nothing.
type capacityRun struct {
	sentPS, sent, sunk int64 // sunk < 0: not read
	secs               float64
}

func (r *run) loadFloods() error {
	err := lines(filepath.Join(r.dir, "flood.tsv"), func(l string) error {
		c := strings.Split(l, "\t")
		if len(c) != 12 {
			return nil
		}
		f := floodRun{sys: c[0]}
		for i, p := range []*int64{&f.peak, &f.floodAsk, &f.floodSent, &f.floodAns, &f.realAsk, &f.realSent, &f.realAns} {
			*p, _ = strconv.ParseInt(c[1+i], 10, 64)
		}
		for i, p := range []*float64{&f.p50, &f.p90, &f.p99, &f.max} {
			*p, _ = strconv.ParseFloat(c[8+i], 64)
		}
		r.floods = append(r.floods, f)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	err = lines(filepath.Join(r.dir, "capacity.tsv"), func(l string) error {
		c := strings.Split(l, "\t")
		if len(c) != 5 || c[0] != "sink" {
			return nil
		}
		x := capacityRun{sunk: -1}
		x.sentPS, _ = strconv.ParseInt(c[1], 10, 64)
		x.sent, _ = strconv.ParseInt(c[2], 10, 64)
		x.secs, _ = strconv.ParseFloat(c[3], 64)
		if n, err := strconv.ParseInt(c[4], 10, 64); err == nil {
			x.sunk = n
		}
		r.capacity = append(r.capacity, x)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// floodSection is the table of the flood step: what the real clients get
// while random sources ask 1.5x what the system answers at its peak.
func (r *run) floodSection() string {
	if len(r.floods) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### random-source flood: real clients beside 1.5x the peak\n\n"+
		"IPv4 cache hits after the system's ramp, %s s each, two streams of one generator at once: the\n"+
		"*flood*, 1.5x the system's own peak from sources drawn at random in %s (each query a hit from\n"+
		"a new client, so any state kept per source is tried), and the *real clients*, %s from\n"+
		"veth-c's address. The real clients' answered share and round-trip latency (the generator's\n"+
		"sample, µs):\n\n"+
		"| system | peak | flood asked | flood sent/s | flood answered/s | real clients: answered | share | p50 µs | p90 µs | p99 µs | max µs |\n"+
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
		r.meta["flood_s"], r.meta["many_src"], perS(r.meta["flood_real"]))
	for _, sys := range systems {
		for _, f := range r.floods {
			if f.sys != sys {
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %d/s | %d | %d | %d of %d | %s | %.0f | %.0f | %.0f | %.0f |\n", r.name(sys), f.peak,
				f.floodAsk, f.floodSent, f.floodAns, f.realAns, f.realSent, pctOf(f.realAns, f.realSent), f.p50, f.p90, f.p99, f.max)
		}
	}
	for _, sys := range strings.Fields(r.meta["flood_sys"]) {
		if why, ok := r.notrun[sys]; ok && contains(systems, sys) {
			fmt.Fprintf(&b, "| %s | not run: %s |%s\n", r.name(sys), why, strings.Repeat(" |", 9))
		}
	}
	return b.String()
}

// capacitySection shows that the generator is not the limit: what it puts
// through veth into the server's core when nothing answers, and the most
// it got answered (the floor's peak, replies matched to queries).
func (r *run) capacitySection() string {
	if len(r.capacity) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n### The generator's capacity\n\n")
	for _, x := range r.capacity {
		fmt.Fprintf(&b, "Into a sink (bench/floor -sink: an XDP program on veth-s, CPU 1, that drops and counts every\n"+
			"IPv4 frame; nothing answered, no reply read): the generator sent %d queries/s (%d in %.2f s)", x.sentPS, x.sent, x.secs)
		if x.sunk >= 0 && x.secs > 0 {
			fmt.Fprintf(&b, "; the sink counted %d (%s of them, %.0f/s)", x.sunk, pctOf(x.sunk, x.sent), float64(x.sunk)/x.secs)
		}
		b.WriteString(".")
	}
	var peaks []string
	for _, wl := range []string{"hit4", "hit6"} {
		if f := r.rows["floor."+wl]; f != nil && f.sat > 0 {
			peaks = append(peaks, fmt.Sprintf("%d replies/s (%s)", f.sat, wlNames[wl]))
		}
	}
	if len(peaks) > 0 {
		fmt.Fprintf(&b, " With replies matched to queries, the most it got answered is the floor's peak: %s.", strings.Join(peaks, ", "))
	}
	b.WriteString("\n")
	return b.String()
}
