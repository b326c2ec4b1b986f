package route

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSysctlReadOnly: a setting opened for reading only (a read-only
// /proc/sys) still reads, and a write says what to do instead of the
// file system's bare error.
func TestSysctlReadOnly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "forwarding")
	if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sysctl{f: f, ro: true, Name: "net.ipv6.conf.lo.forwarding"}
	defer s.Close()
	if v, err := s.Read(); err != nil || v != 0 {
		t.Fatalf("read %d, %v", v, err)
	}
	err = s.Write(1)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "setting net.ipv6.conf.lo.forwarding=1") ||
		!strings.Contains(err.Error(), "securityContext.sysctls") {
		t.Fatalf("write: %v", err)
	}
}
