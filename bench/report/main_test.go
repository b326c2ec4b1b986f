package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wsLine is a names.tsv line of a row that ran, as bench.sh writes it.
func wsLine(sys, names, peak string) string {
	return strings.Join([]string{sys, names, "ran", "cache success 6096, hot_entries 2000",
		"12000", "1020", "1020", "30000", "1020", "1020", "-", "-", "-", "1001", "1000", peak,
		"900", "300", "1000", "0", "400000", "fixed", "390000", "370000", "1170000", "1110000", "60000",
		"1110000000", "1110000000", "0", "2500000000", "1110000", "555000", "1110000", "0", "0", "1000", "5"}, "\t")
}

func writeRun(t *testing.T, files map[string]string) *run {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWorkingSet(t *testing.T) {
	r := writeRun(t, map[string]string{
		"results.tsv": "afxdp-hot\thit4\t400000\t20000\t6.5\t{\"sent\":10,\"answered\":10}\n",
		"names.tsv": wsLine("afxdp-hot", "1000", "320000") + "\n" +
			wsLine("afxdp-hot", "100000", "160000") + "\n" +
			"knot\t1000\tnot run\tknotd's XDP program does not load\n" +
			"stock\t100000\tnot run\tshed for the time budget (1780 s)\n" +
			"afxdp-hot\t1000\tran\ttoo few columns\n" +
			// a line of 36 columns, before the XDP table's two
			strings.Join(strings.Split(wsLine("afxdp-xdp", "1000", "600000"), "\t")[:36], "\t") + "\n",
		"run.txt": "generator=xdpgen\nws_names=1000 100000\nws_sys=stock afxdp-hot knot\nws_miss=12000\nws_hit=30000\n" +
			"ws_miss_k=10000\nws_hit_k=20000\nws_rate=400000\nws_s=3\n",
	})
	if len(r.ws) != 5 {
		t.Fatalf("%d working-set rows, want 5 (the short line skipped): %+v", len(r.ws), r.ws)
	}
	if x := r.ws[4]; x.sys != "afxdp-xdp" || x.peak != 600000 || x.xdpEntries != -1 || x.xdpRefused != -1 {
		t.Errorf("a line without the XDP table's columns: %+v", x)
	}
	w := r.ws[1]
	if w.xdpEntries != 1000 || w.xdpRefused != 5 {
		t.Errorf("XDP table: %d entries, %d refused", w.xdpEntries, w.xdpRefused)
	}
	if w.names != 100000 || w.peak != 160000 || w.rampHot != 900 || w.rampXDP != 300 || w.rampAll != 1000 || w.ask != 400000 ||
		w.basis != "fixed" || w.replies != 1110000 || w.cpu1 != 2.5e9 || w.hot != 1110000 || w.xdp != 555000 || w.topRate != -1 || w.cached != 1001 {
		t.Errorf("parsed %+v", w)
	}
	s := summary(r)
	for _, want := range []string{
		"### Working set: 1,000, 100,000 distinct names",
		"once, the misses, at 12k/s (the kernel path 10k/s;",
		// vs the system's own 1,000-name row, not the hit4 row (400000)
		"| 100,000 | CoreDNS + afxdp (hot answers) | 160000 | 0.50x | 390000 | 370000 | 2.000 | 2.252 | 90.0 % (30.0 %) | 100.0 % (50.0 %) |",
		"| 1,000 | Knot DNS XDP | not run: knotd's XDP program does not load |",
		"| 100,000 | CoreDNS, kernel UDP | not run: shed for the time budget (1780 s) |",
		"| 1,000 | CoreDNS + afxdp (hot answers) | cache success 6096, hot_entries 2000 | 1020 of 1020 at 12000/s | 1020 of 1020 at 30000/s | – | 1001 | 1000 | 0 | 0, 0 | 1000, 5 |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// The 1,000-name rows come before the 100,000-name ones.
	if i, j := strings.Index(s, "| 1,000 | CoreDNS + afxdp (hot answers) | 320000"), strings.Index(s, "| 100,000 | CoreDNS + afxdp"); i < 0 || j < i {
		t.Errorf("rows out of order:\n%s", s)
	}

	// Without a 1,000-name row of its own, a peak is compared with the
	// system's IPv4 cache-hit row.
	r.ws = r.ws[1:]
	if s := summary(r); !strings.Contains(s, "| 100,000 | CoreDNS + afxdp (hot answers) | 160000 | 0.40x |") {
		t.Errorf("no comparison with the hit4 row:\n%s", s)
	}
}

func TestWorkingSetAbsent(t *testing.T) {
	old := writeRun(t, map[string]string{"results.tsv": "", "run.txt": "generator=xdpgen\n"})
	if s := old.wsSection(); !strings.Contains(s, "predates the working-set row") {
		t.Errorf("run before the row: %q", s)
	}
	off := writeRun(t, map[string]string{"results.tsv": "", "run.txt": "generator=xdpgen\nws_names=\n"})
	if s := off.wsSection(); !strings.Contains(s, "WSNAMES=0") {
		t.Errorf("run without it: %q", s)
	}
}
