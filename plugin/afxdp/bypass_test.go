package afxdp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/afxdp/afxdp/bpf"
)

func TestWatchesBypass(t *testing.T) {
	for _, c := range []struct {
		configured, attached bpf.Mode
		driver               string
		want                 bool
	}{
		{bpf.ModeAuto, bpf.ModeNative, "veth", true},
		{bpf.ModeAuto, bpf.ModeGeneric, "veth", false},     // generic sees redirect_peer's frames
		{bpf.ModeNative, bpf.ModeNative, "veth", false},    // asked for by name: kept
		{bpf.ModeAuto, bpf.ModeNative, "mlx5_core", false}, // a NIC: nothing delivers past its driver
		{bpf.ModeAuto, bpf.ModeNative, "", false},
	} {
		if got := watchesBypass(c.configured, c.attached, c.driver); got != c.want {
			t.Errorf("xdp_mode %s attached %s on %q: watched %v, want %v", c.configured, c.attached, c.driver, got, c.want)
		}
	}
}

func TestBypassStrikes(t *testing.T) {
	strikes := 0
	for i, c := range []struct {
		kernel, seen uint64
		want         int
	}{
		{bypassMin, 0, 1},
		{bypassMin + 5, 0, 2},
		{bypassMin, 1, 0},     // XDP saw one frame: not bypassed
		{bypassMin - 1, 0, 0}, // too few kernel answers to tell
		{1000, 0, 1},
	} {
		strikes = bypassStrikes(strikes, c.kernel, c.seen)
		if strikes != c.want {
			t.Errorf("window %d (kernel %d, seen %d): %d strikes, want %d", i, c.kernel, c.seen, strikes, c.want)
		}
	}
}

func TestSeenByXDP(t *testing.T) {
	var c bpf.Counters
	c[bpf.PassNotIP], c[bpf.PassNotUDP], c[bpf.PassPort] = 100, 200, 300
	if n := seenByXDP(&c); n != 0 {
		t.Fatalf("frames for no served port counted as seen: %d", n)
	}
	c[bpf.Redirect], c[bpf.HotAnswer], c[bpf.PassMartian] = 1, 2, 4
	if n := seenByXDP(&c); n != 7 {
		t.Fatalf("seen %d, want 7 (redirected, answered, passed for a served port)", n)
	}
}

func TestKernelAnswersSkipLoopback(t *testing.T) {
	var k kernelAnswers
	k.note(&net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1})
	k.note(&net.UDPAddr{IP: net.ParseIP("::1"), Port: 1})
	k.note(&net.TCPAddr{IP: net.ParseIP("198.18.0.2"), Port: 1})
	if n, last := k.read(); n != 0 || last.IsValid() {
		t.Fatalf("loopback and TCP clients counted: %d, %s", n, last)
	}
	k.note(&net.UDPAddr{IP: net.ParseIP("::ffff:198.18.0.2"), Port: 1})
	k.note(&net.UDPAddr{IP: net.ParseIP("fd00::2"), Port: 1})
	if n, last := k.read(); n != 2 || last != netip.MustParseAddr("fd00::2") {
		t.Fatalf("%d answers, last %s; want 2, fd00::2", n, last)
	}
}
