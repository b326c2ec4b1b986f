//go:build !afxdp_testhooks

package datapath

import "testing"

// TestNoPauseHookInRelease: without the afxdp_testhooks tag (a release
// build, as this test binary is) no pause hook is set, whatever the
// environment says: a handover never pauses.
func TestNoPauseHookInRelease(t *testing.T) {
	t.Setenv("AFXDP_TEST_HANDOVER_PAUSE", "new:offered") // read by nothing here
	if pauseHook.Load() != nil {
		t.Fatal("a pause hook is set in a build without the afxdp_testhooks tag")
	}
	testPause("new:offered") // returns at once
}
