package bpf

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/cilium/ebpf/link"
)

// Mode is how the program is attached to an interface.
type Mode int

const (
	ModeAuto    Mode = iota // native, else generic
	ModeNative              // in the driver's receive path
	ModeGeneric             // after the kernel built an skb: works everywhere, slower
)

func (m Mode) String() string {
	switch m {
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return "auto"
}

// ParseMode reads a mode as written in a configuration.
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeAuto, ModeNative, ModeGeneric} {
		if s == m.String() {
			return m, nil
		}
	}
	return ModeAuto, fmt.Errorf("unknown XDP mode %q (want auto, native or generic)", s)
}

func (m Mode) flags() link.XDPAttachFlags {
	switch m {
	case ModeNative:
		return link.XDPDriverMode
	case ModeGeneric:
		return link.XDPGenericMode
	}
	return 0
}

// explainAttach adds what an operator needs to know to the errnos the kernel
// answers an XDP attach with.
func explainAttach(err error) error {
	switch {
	case errors.Is(err, syscall.EBUSY), errors.Is(err, syscall.EEXIST):
		return fmt.Errorf("another XDP program is already attached (another afxdp instance, or a tool such as 'ip link set xdp'): %w", err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("not permitted (needs CAP_NET_ADMIN and CAP_BPF): %w", err)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("driver refused (veth: the peer has more TX queues than this side has RX queues): %w", err)
	case errors.Is(err, syscall.ERANGE):
		return fmt.Errorf("the MTU is too large for the driver's native XDP (veth: about 3.5 KB without multi-buffer XDP); generic mode has no such limit: %w", err)
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("driver does not support this mode: %w", err)
	}
	return err
}
