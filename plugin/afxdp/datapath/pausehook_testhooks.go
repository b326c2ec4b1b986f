//go:build afxdp_testhooks

package datapath

import (
	"fmt"
	"os"
	"time"
)

// pauseEnv names the handover step at which a coredns built with the
// afxdp_testhooks tag pauses, e.g. AFXDP_TEST_HANDOVER_PAUSE=new:swapped:
// the end-to-end tests (test/e2e, TestHandoverChaos) kill a process
// there. Only that build reads it; a release build has no such hook.
const pauseEnv = "AFXDP_TEST_HANDOVER_PAUSE"

// pauseFor is how long the process stays at the step: long enough for the
// test to see the line below and kill it.
const pauseFor = 5 * time.Second

func init() {
	step, ok := os.LookupEnv(pauseEnv)
	if !ok {
		return
	}
	h := func(s string) {
		if s != step {
			return
		}
		fmt.Fprintf(os.Stderr, "afxdp test: pid %d paused at %s\n", os.Getpid(), s)
		time.Sleep(pauseFor)
	}
	pauseHook.Store(&h)
}
