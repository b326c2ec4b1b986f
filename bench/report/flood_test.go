package main

import (
	"strings"
	"testing"
)

func TestFloodAndCapacity(t *testing.T) {
	r := writeRun(t, map[string]string{
		"results.tsv": "floor\thit4\t871000\t20000\t1.3\t{\"sent\":10,\"answered\":10}\n",
		"flood.tsv": "afxdp-xdp\t600000\t900000\t880000\t610000\t10000\t30000\t29700\t41\t60\t95.5\t800\n" +
			"stock\t40000\ttoo few\n",
		"capacity.tsv": "sink\t1210000\t2420000\t2.00\t2419000\n",
		"binaries.tsv": "knot\t/tmp/x/libknot.so.13\tabc\tpatched: adjust_meta call removed (bench/knotpatch from ...)\n",
		"notrun.tsv":   "dnsdist\tnot installed\n",
		"run.txt":      "generator=xdpgen\nflood_s=3\nflood_real=10000\nflood_sys=dnsdist afxdp-xdp\nmany_src=198.19.0.0/16\n",
	})
	if len(r.floods) != 1 || len(r.capacity) != 1 {
		t.Fatalf("%d flood runs (want 1, the short line skipped), %d capacity runs", len(r.floods), len(r.capacity))
	}
	s := summary(r)
	for _, want := range []string{
		"| CoreDNS + afxdp (hot answers in XDP) | 600000 | 900000/s | 880000 | 610000 | 29700 of 30000 | 99.00 % | 41 | 60 | 96 | 800 |",
		"| dnsdist (packet cache), kernel UDP | not run: not installed |",
		"10k/s from\nveth-c's address",
		"sent 1210000 queries/s (2420000 in 2.00 s); the sink counted 2419000 (99.96 % of them, 1209500/s)",
		"the floor's peak: 871000 replies/s (cache hits, IPv4)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
	if got := r.name("knot"); got != "Knot DNS XDP (patched: adjust_meta call removed)" {
		t.Errorf("knot's rows are named %q", got)
	}
	if got := r.name("afxdp-xdp"); got != names["afxdp-xdp"] {
		t.Errorf("an unpatched system is named %q", got)
	}
}
