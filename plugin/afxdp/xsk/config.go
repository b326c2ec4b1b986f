package xsk

import (
	"fmt"
	"math/bits"
)

// BindMode selects zero-copy or copy mode.
type BindMode int

const (
	BindAuto     BindMode = iota // zero-copy if the driver offers it, else copy
	BindZeroCopy                 // zero-copy or fail
	BindCopy                     // the kernel copies frames in and out of the UMEM
)

func (m BindMode) String() string {
	switch m {
	case BindZeroCopy:
		return "zerocopy"
	case BindCopy:
		return "copy"
	}
	return "auto"
}

// ParseBindMode reads a bind mode as written in a configuration.
func ParseBindMode(s string) (BindMode, error) {
	for _, m := range []BindMode{BindAuto, BindZeroCopy, BindCopy} {
		if s == m.String() {
			return m, nil
		}
	}
	return BindAuto, fmt.Errorf("unknown bind mode %q (want auto, zerocopy or copy)", s)
}

// Config sizes one socket. The UMEM holds Frames frames of FrameSize bytes:
// the first half feeds the fill ring (receive), the second half is the pool
// replies are built in (transmit). All four rings have RingSize entries.
type Config struct {
	Frames    int
	FrameSize int
	RingSize  int
	Bind      BindMode
}

// DefaultConfig is 4096 frames of 2 KiB (8 MiB of UMEM) and rings of 2048.
var DefaultConfig = Config{Frames: 4096, FrameSize: 2048, RingSize: 2048}

// Validate checks what the kernel would otherwise refuse with a bare EINVAL.
func (c Config) Validate() error {
	for _, err := range []error{CheckFrameSize(c.FrameSize), CheckRingSize(c.RingSize), CheckFrames(c.Frames)} {
		if err != nil {
			return err
		}
	}
	if c.Frames < 2*c.RingSize {
		return fmt.Errorf("%d frames: need at least 2x the ring size (%d) to keep both fill and TX rings full", c.Frames, 2*c.RingSize)
	}
	return nil
}

// CheckFrameSize checks a frame size on its own (aligned UMEM chunks).
func CheckFrameSize(n int) error {
	if n != 2048 && n != 4096 {
		return fmt.Errorf("frame size %d: must be 2048 or 4096", n)
	}
	return nil
}

// CheckRingSize checks a ring size on its own.
func CheckRingSize(n int) error {
	if !pow2(n) || n < 64 || n > 1<<16 {
		return fmt.Errorf("ring size %d: must be a power of two in [64, 65536]", n)
	}
	return nil
}

// CheckFrames checks a frame count on its own.
func CheckFrames(n int) error {
	if n > 1<<20 {
		return fmt.Errorf("%d frames: at most %d", n, 1<<20)
	}
	return nil
}

// UMEMBytes is the memory one socket locks for its UMEM.
func (c Config) UMEMBytes() int { return c.Frames * c.FrameSize }

func pow2(n int) bool { return n > 0 && bits.OnesCount(uint(n)) == 1 }
