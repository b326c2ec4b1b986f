package afxdp

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/nic"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

// readmeSection is the text of the plugin README's "## title" section.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", title)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	return sec
}

// cDefines are the program's plain numeric #defines, read from its source
// as the compiler sees them.
func cDefines(t *testing.T) map[string]float64 {
	t.Helper()
	src, err := os.ReadFile("../../bpf/xdp_dns.c")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^#define ([A-Z_]+) ([0-9]+)\s*$`).FindAllStringSubmatch(string(src), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out
}

// TestReadmeLimits: each row of the README's Limits table states the value
// of the constant its last column names first, so that a changed map size
// or default changes the README with it. Byte sizes are read in the unit
// written, to the digits written.
func TestReadmeLimits(t *testing.T) {
	c := cDefines(t)
	cfg, opts := xsk.DefaultConfig, datapath.DefaultOptions()
	if c["MAX_QUEUES"] != bpf.MaxQueues {
		t.Errorf("MAX_QUEUES %v in xdp_dns.c, bpf.MaxQueues %d", c["MAX_QUEUES"], bpf.MaxQueues)
	}
	const ringEntryBytes = 8 + 8 + 16 + 16 // fill, completion (u64 addresses); RX, TX (struct xdp_desc)
	code := map[string]float64{
		"MAX_QUEUES":        bpf.MaxQueues,
		"MAX_SERVED":        c["MAX_SERVED"],
		"MAX_PORTS":         c["MAX_PORTS"],
		"MAX_LOCAL":         c["MAX_LOCAL"],
		"MAX_VLANS":         c["MAX_VLANS"],
		"HOT_ENTRIES":       bpf.HotEntries,
		"HOT_SMALL_CELLS":   bpf.HotSmallCells,
		"defaultHotEntries": defaultHotEntries,
		"maxHotEntries":     maxHotEntries,
		"xsk.DefaultConfig": float64(cfg.UMEMBytes()),
		"xsk.CheckFrames":   float64(maxFrames(t)) * 4096,
		"ring_size":         float64(cfg.RingSize * ringEntryBytes),
		"pending":           float64(opts.MaxPending),
		"workers":           float64(opts.MaxWorkers),
		"hot_cells":         bpf.HotCells * bpf.HotCellSize,
		"hot_index":         c["HOT_BUCKETS"] * c["HOT_WAYS"] * 8,
		"hot_hits":          bpf.HotEntries * 8,
		"neigh_requests":    64 * 1024,
	}
	if c["HOT_SMALL_CELLS"] != bpf.HotSmallCells || c["HOT_BUCKETS"] == 0 || c["HOT_WAYS"] == 0 {
		t.Errorf("xdp_dns.c: HOT_SMALL_CELLS %v (bpf.HotSmallCells %d), HOT_BUCKETS %v, HOT_WAYS %v",
			c["HOT_SMALL_CELLS"], bpf.HotSmallCells, c["HOT_BUCKETS"], c["HOT_WAYS"])
	}
	row := regexp.MustCompile("(?m)^\\| ([^|]+) \\| ([0-9][0-9,.]*)(?: (KiB|MiB|GiB))? \\| [^`|]*`([^`]+)`[^|]*\\|$")
	rows := row.FindAllStringSubmatch(readmeSection(t, "Limits"), -1)
	seen := map[string]bool{}
	for _, r := range rows {
		what, num, unit, key := r[1], r[2], r[3], r[4]
		want, ok := code[key]
		if !ok {
			t.Errorf("Limits row %q names %s, which this test does not know: add it to the map", what, key)
			continue
		}
		seen[key] = true
		got, err := strconv.ParseFloat(strings.ReplaceAll(num, ",", ""), 64)
		if err != nil {
			t.Errorf("Limits row %q: %q: %v", what, num, err)
			continue
		}
		scale := map[string]float64{"": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
		digits := 0
		if _, frac, ok := strings.Cut(num, "."); ok {
			digits = len(frac)
		}
		if math.Abs(got-want/scale) > 0.5*math.Pow(10, -float64(digits)) {
			t.Errorf("Limits row %q says %s %s; %s is %v bytes or items (%.*f %s)", what, num, unit, key, want, digits, want/scale, unit)
		}
	}
	for key := range code {
		if !seen[key] {
			t.Errorf("the Limits table has no row for %s", key)
		}
	}
}

// maxFrames is the largest frame count xsk accepts.
func maxFrames(t *testing.T) int {
	n := 1
	for xsk.CheckFrames(n*2) == nil {
		n *= 2
	}
	if xsk.CheckFrames(n+1) == nil {
		t.Fatalf("xsk.CheckFrames takes more than %d frames but not %d", n, 2*n)
	}
	return n
}

// TestReadmeTroubleshooting: the Troubleshooting table explains every
// reason the program passes a frame for, and the Metrics entry names every
// feature the features metric may carry.
func TestReadmeTroubleshooting(t *testing.T) {
	sec := readmeSection(t, "Troubleshooting")
	for i := range bpf.NumCounters {
		c := bpf.Counter(i)
		if c == bpf.Redirect || c == bpf.HotAnswer || c.Dropped() {
			continue
		}
		if !strings.Contains(sec, "\n| `"+c.String()+"` |") {
			t.Errorf("Troubleshooting has no row for xdp_passed_total reason %q", c)
		}
	}
	metrics := readmeSection(t, "Metrics")
	for _, f := range nic.All {
		if !strings.Contains(metrics, "`"+f.String()+"`") {
			t.Errorf("Metrics does not name the feature %q of coredns_afxdp_xdp_features", f)
		}
	}
}
