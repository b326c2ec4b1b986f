package bpf

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// TestExplainAttach: each errno a driver answers an attach with gets the
// reason an operator can act on, and stays matchable.
func TestExplainAttach(t *testing.T) {
	for _, c := range []struct {
		errno syscall.Errno
		says  string
	}{
		{syscall.EBUSY, "another XDP program"},
		{syscall.EPERM, "CAP_NET_ADMIN"},
		{syscall.ENOSPC, "TX queues"},
		{syscall.ERANGE, "MTU is too large"},
		{syscall.EOPNOTSUPP, "does not support this mode"},
	} {
		err := explainAttach(c.errno)
		if !strings.Contains(err.Error(), c.says) || !errors.Is(err, c.errno) {
			t.Errorf("%v: %v", c.errno, err)
		}
	}
}
