package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Registration is what a node-local DNS pod's sidecar writes into the
// shared host directory, one file per pod, <UID>.json; the router reads
// them all. Only pods that mount that hostPath can register, so no other
// pod on the node can claim the node's DNS addresses.
type Registration struct {
	UID        string       `json:"uid"`
	Name       string       `json:"name"`
	IPs        []netip.Addr `json:"ips"`        // the pod's IPs (status.podIPs)
	Registered time.Time    `json:"registered"` // when the sidecar started: newer wins
	Heartbeat  time.Time    `json:"heartbeat"`  // rewritten every few seconds
}

// IPFor returns the pod's IP of a's family.
func (r Registration) IPFor(a netip.Addr) (netip.Addr, bool) {
	for _, ip := range r.IPs {
		if ip.Is4() == a.Is4() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func regPath(dir, uid string) string { return filepath.Join(dir, uid+".json") }

// validUID keeps a UID from naming a path outside the directory.
func validUID(uid string) bool {
	return uid != "" && !strings.ContainsAny(uid, "/\\") && uid != "." && uid != ".."
}

// Write writes r atomically (a temporary file renamed over the old one):
// the router never reads half a registration.
func (r Registration) Write(dir string) error {
	if !validUID(r.UID) {
		return fmt.Errorf("invalid pod UID %q", r.UID)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+r.UID+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), regPath(dir, r.UID)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// Remove removes the pod's registration; it is not an error if it is gone.
func Remove(dir, uid string) error {
	if !validUID(uid) {
		return fmt.Errorf("invalid pod UID %q", uid)
	}
	err := os.Remove(regPath(dir, uid))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// ReadAll reads every registration in dir. Files that do not parse are
// reported in bad and otherwise skipped (a registration never half-written
// does not parse only if something else wrote it).
func ReadAll(dir string) (regs []Registration, bad []error, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		var r Registration
		if err := json.Unmarshal(b, &r); err != nil {
			bad = append(bad, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if r.UID+".json" != name {
			bad = append(bad, fmt.Errorf("%s: holds pod UID %q", name, r.UID))
			continue
		}
		regs = append(regs, r)
	}
	return regs, bad, nil
}

// parseIPs reads status.podIPs as the downward API gives it: comma
// separated (one IP per family).
func parseIPs(s string) ([]netip.Addr, error) {
	var ips []netip.Addr
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		ips = append(ips, ip.Unmap())
	}
	if len(ips) == 0 {
		return nil, errors.New("no pod IP")
	}
	return ips, nil
}
