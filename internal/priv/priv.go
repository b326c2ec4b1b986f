package priv

import (
	"os"
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
