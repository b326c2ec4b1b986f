package afxdp

import (
	"os"
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
