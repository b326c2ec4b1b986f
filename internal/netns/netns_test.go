package netns

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/afxdp/afxdp/internal/priv"
)

// TestSweepRemovesOrphans: a namespace left by a test process that is gone
// (killed before its cleanup ran) is removed; one of a live process stays.
func TestSweepRemovesOrphans(t *testing.T) {
	priv.Require(t)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	orphan := fmt.Sprintf("afx-orph-%d-000000", gone.Process.Pid)
	live := fmt.Sprintf("afx-live-%d-000000", os.Getppid())
	for _, name := range []string{orphan, live} {
		run(t, "ip", "netns", "add", name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	}
	sweep()
	if _, err := os.Stat("/run/netns/" + orphan); !os.IsNotExist(err) {
		t.Errorf("%s was left: %v", orphan, err)
	}
	if _, err := os.Stat("/run/netns/" + live); err != nil {
		t.Errorf("%s (a live process's) was removed: %v", live, err)
	}
}
