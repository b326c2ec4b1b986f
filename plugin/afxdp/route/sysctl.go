package route

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Sysctl is one setting under /proc/sys, opened once: /proc/sys/net shows
// the network namespace of the thread that opened it, so later reads and
// writes from any goroutine reach that namespace.
type Sysctl struct {
	f    *os.File
	ro   bool   // opened for reading only: this process may not write it
	Name string // as sysctl(8) names it: net.ipv4.conf.lo.forwarding
}

// ErrNoSysctl: the setting does not exist (IPv6 disabled, no such device).
var ErrNoSysctl = errors.New("no such setting")

// OpenSysctl opens the setting name (sysctl(8)'s dotted form) for reading,
// and for writing too when it may be written: not without the privilege,
// nor where /proc/sys is mounted read-only (an unprivileged container).
func OpenSysctl(name string) (*Sysctl, error) {
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	ro := errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
	if ro {
		f, err = os.Open(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNoSysctl)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	return &Sysctl{f: f, ro: ro, Name: name}, nil
}

// LoForwarding names the forwarding setting of loopback for a family (4 or 6).
func LoForwarding(family int) string {
	if family == 6 {
		return "net.ipv6.conf.lo.forwarding"
	}
	return "net.ipv4.conf.lo.forwarding"
}

// Read returns the setting's value.
func (s *Sysctl) Read() (int, error) { return readInt(s.f) }

// ErrReadOnly: the setting cannot be written from here.
var ErrReadOnly = errors.New("this process may not write /proc/sys here (read-only in a container, or not privileged): set it from outside (a pod's securityContext.sysctls, the host's sysctl.conf)")

// Write sets the value.
func (s *Sysctl) Write(v int) error {
	if s.ro {
		return fmt.Errorf("setting %s=%d: %w", s.Name, v, ErrReadOnly)
	}
	if _, err := s.f.WriteAt([]byte(strconv.Itoa(v)+"\n"), 0); err != nil {
		return fmt.Errorf("setting %s=%d: %w", s.Name, v, err)
	}
	return nil
}

// Close closes the file.
func (s *Sysctl) Close() error { return s.f.Close() }

func readInt(f *os.File) (int, error) {
	var b [16]byte
	n, err := f.ReadAt(b[:], 0)
	if n == 0 && err != nil {
		return 0, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	return v, nil
}
