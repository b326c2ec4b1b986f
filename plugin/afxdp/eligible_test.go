package afxdp

import (
	"testing"

	"github.com/afxdp/afxdp/plugin/afxdp/hot"
)

func TestZoneRoute(t *testing.T) {
	root, org, www := &blockPolicy{why: "root"}, &blockPolicy{why: "org"}, &blockPolicy{why: "www"}
	r := zoneRoute{".": root, "example.org.": org, "www.example.org.": www}
	for name, want := range map[string]*blockPolicy{
		"www.example.org.":   www,
		"a.www.example.org.": www,
		"mail.example.org.":  org,
		"example.org.":       org,
		"example.com.":       root,
		"org.":               root,
		".":                  root,
		"xexample.org.":      root,
	} {
		if got := r.route(name); got != want {
			t.Errorf("%s: routed to %s, want %s", name, got.why, want.why)
		}
	}
	if got := (zoneRoute{"example.org.": org}).route("example.com."); got != nil {
		t.Errorf("no root zone: routed to %v, want none", got)
	}
}

// TestHotReasonsFit: the per-reason counters have room for every reason.
func TestHotReasonsFit(t *testing.T) {
	for _, r := range hot.Reasons() {
		if int(r) >= maxHotReasons {
			t.Fatalf("reason %s (%d) beyond maxHotReasons %d", r, r, maxHotReasons)
		}
	}
}
