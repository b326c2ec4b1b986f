package afxdp

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/priv"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// capEffective asks the kernel directly, for comparison with the parse of
// /proc/self/status.
func capEffective(t *testing.T) uint64 {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32
}

func TestPrivilegesEffectiveCaps(t *testing.T) {
	got, err := effectiveCaps()
	if err != nil {
		t.Fatalf("effectiveCaps: %v", err)
	}
	if want := capEffective(t); got != want {
		t.Errorf("effectiveCaps() = %#x, capget says %#x", got, want)
	}
}

func TestPrivilegesAsRoot(t *testing.T) {
	priv.Require(t)
	eff := capEffective(t)
	for _, c := range []uint{capNetAdmin, capNetRaw, capIPCLock} {
		if eff&(1<<c) == 0 {
			if os.Getenv(priv.CIEnv) == "1" {
				t.Fatalf("root without capability %d", c)
			}
			t.Skipf("root without capability %d (a restricted container)", c)
		}
	}
	if err := checkPrivileges(datapath.DefaultOptions(), 1); err != nil {
		t.Errorf("checkPrivileges as root: %v", err)
	}
	// Many interfaces' UMEMs do not matter with CAP_IPC_LOCK.
	if err := checkPrivileges(datapath.DefaultOptions(), 64); err != nil {
		t.Errorf("checkPrivileges as root, 64 interfaces: %v", err)
	}
}

// TestBindPortError: CAP_NET_BIND_SERVICE is asked for only for a port
// below the namespace's first unprivileged port, and the error names both.
func TestBindPortError(t *testing.T) {
	for _, c := range []struct {
		port, start int
		has, fails  bool
	}{
		{53, 1024, false, true},
		{53, 1024, true, false},
		{53, 0, false, false}, // containers that open every port
		{5353, 1024, false, false},
		{1024, 1024, false, false},
		{1023, 1024, false, true},
	} {
		err := bindPortError(c.port, c.start, c.has)
		if (err != nil) != c.fails {
			t.Errorf("port %d, start %d, cap %v: %v", c.port, c.start, c.has, err)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("CAP_NET_BIND_SERVICE (bind port %d, below net.ipv4.ip_unprivileged_port_start = %d)", c.port, c.start)) {
			t.Errorf("error %q", err)
		}
	}
	if os.Geteuid() == 0 {
		if err := checkBindPort(53); err != nil {
			t.Errorf("as root: %v", err)
		}
	}
}
