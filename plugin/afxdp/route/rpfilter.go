package route

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RPFilter reads the IPv4 reverse-path filter setting in force for one
// interface: the kernel applies the larger of the "all" and the
// per-interface value (IN_DEV_RPFILTER). The files are opened once, so
// later reads see the namespace they were opened in.
type RPFilter struct {
	all, dev *os.File
}

// OpenRPFilter opens the settings of the interface named name. An interface
// without IPv4 configuration has only the "all" value.
func OpenRPFilter(name string) (*RPFilter, error) {
	all, err := os.Open("/proc/sys/net/ipv4/conf/all/rp_filter")
	if err != nil {
		return nil, fmt.Errorf("reading rp_filter: %w", err)
	}
	r := &RPFilter{all: all}
	if dev, err := os.Open("/proc/sys/net/ipv4/conf/" + name + "/rp_filter"); err == nil {
		r.dev = dev
	}
	return r, nil
}

// Read returns the setting in force: 0 off, 1 strict, 2 loose.
func (r *RPFilter) Read() (int, error) {
	v, err := readInt(r.all)
	if err != nil || r.dev == nil {
		return v, err
	}
	d, err := readInt(r.dev)
	return max(v, d), err
}

// Close closes the files.
func (r *RPFilter) Close() error {
	if r.dev != nil {
		r.dev.Close()
	}
	return r.all.Close()
}

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
