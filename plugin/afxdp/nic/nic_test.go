package nic

import (
	"net"
	"testing"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

// readIn reads the features of dev inside ns.
func readIn(t *testing.T, ns *netns.NS, dev string) Features {
	t.Helper()
	var f Features
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		f, err = Read(ifi.Index)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", dev, err)
	}
	t.Logf("%s: %s (zero-copy segments %d)", dev, f, f.ZCMaxSegs)
	return f
}

// TestReadVeth reads a veth pair on this kernel (6.18): native XDP with
// redirect and multi-buffer receive, no zero-copy; it accepts redirected
// frames (ndo-xmit) only once its peer runs NAPI, which GRO on the peer
// turns on (the test network's setting).
func TestReadVeth(t *testing.T) {
	priv.Require(t)
	a, b := netns.New(t, "nic"), netns.New(t, "nicp")

	a.Run("ip", "link", "add", "plain", "type", "veth", "peer", "name", "plainp", "netns", b.Name)
	a.Run("ip", "link", "set", "plain", "up")
	b.Run("ip", "link", "set", "plainp", "up")
	if got, want := readIn(t, a, "plain"), (Features{Known: true, XDP: Basic | Redirect | RxSG}); got != want {
		t.Errorf("veth, peer without GRO: %s %+v, want %s %+v", got, got, want, want)
	}

	netns.Veth(t, a, "gro", b, "grop", 2)
	f := readIn(t, a, "gro")
	if want := (Features{Known: true, XDP: Basic | Redirect | NDOXmit | RxSG | NDOXmitSG}); f != want {
		t.Errorf("veth, peer with GRO: %s %+v, want %s %+v", f, f, want, want)
	}
	if f.Has(XSKZeroCopy) {
		t.Error("veth claims AF_XDP zero-copy, which its bind refuses (EOPNOTSUPP)")
	}

	if got := readIn(t, a, "lo"); got != (Features{Known: true}) {
		t.Errorf("loopback: %s %+v, want known and none (generic XDP only)", got, got)
	}
}

// TestReadMissing: an interface that does not exist is an error, not
// "unknown" (which means the kernel cannot say).
func TestReadMissing(t *testing.T) {
	priv.Require(t)
	ns := netns.New(t, "nicm")
	if err := ns.Do(func() error {
		f, err := Read(1 << 30)
		if err == nil {
			t.Errorf("ifindex 1<<30 read as %+v, want an error", f)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
