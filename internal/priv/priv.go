package priv

import (
	"os"
	"os/exec"
	"testing"
)

// CIEnv, when set to 1, turns every privileged skip into a failure: CI runs
// as root, so a skipped privileged test there is a test that did not run.
const CIEnv = "AFXDP_REQUIRE_PRIVILEGED"

// Require skips t when the process is not root, or fails it under CI.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv(CIEnv) == "1" {
		t.Fatalf("this test needs root and %s=1 forbids skipping it", CIEnv)
	}
	t.Skip("needs root (network namespaces, XDP, AF_XDP); run as root or under CI")
}

// Tool is the path of the command name that t runs, from Debian's package
// pkg (the Makefile's TOOLS, which `make deps` installs). Without it t is
// skipped, or fails under CI, where a missing tool is a test that did not
// run.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv(CIEnv) == "1" {
		t.Fatalf("%s not found: install Debian's %s (make deps does) — %s=1 forbids skipping", name, pkg, CIEnv)
	}
	t.Skipf("%s not found: install Debian's %s (make deps) to run this test", name, pkg)
	return ""
}
