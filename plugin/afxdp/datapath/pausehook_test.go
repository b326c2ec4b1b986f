package datapath

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// stepRecorder sets the pause hook to record the handover steps it meets,
// until the test ends.
type stepRecorder struct {
	mu    sync.Mutex
	steps []string
}

func recordSteps(t *testing.T) *stepRecorder {
	t.Helper()
	r := &stepRecorder{}
	h := func(step string) {
		r.mu.Lock()
		r.steps = append(r.steps, step)
		r.mu.Unlock()
	}
	if !pauseHook.CompareAndSwap(nil, &h) {
		t.Fatal("a pause hook is set already")
	}
	t.Cleanup(func() { pauseHook.Store(nil) })
	return r
}

// await waits until every step of want was met (in any order: the two
// sides run apart), and returns what was met.
func (r *stepRecorder) await(want []string, within time.Duration) ([]string, bool) {
	for end := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		got := slices.Clone(r.steps)
		r.mu.Unlock()
		all := true
		for _, w := range want {
			all = all && slices.Contains(got, w)
		}
		if all || time.Now().After(end) {
			return got, all
		}
	}
}

// TestPauseHook: testPause runs the hook a test sets, with the step, and
// nothing once it is unset.
func TestPauseHook(t *testing.T) {
	if pauseHook.Load() != nil {
		t.Skip("this test binary was built with the afxdp_testhooks tag and its environment set a hook")
	}
	r := recordSteps(t)
	testPause("new:offered")
	testPause("old:released")
	if got, _ := r.await(nil, 0); !slices.Equal(got, []string{"new:offered", "old:released"}) {
		t.Errorf("the hook met %v", got)
	}
	pauseHook.Store(nil)
	testPause("new:swapped") // no hook: nothing happens
	if got, _ := r.await(nil, 0); len(got) != 2 {
		t.Errorf("the hook ran after it was unset: %v", got)
	}
}
