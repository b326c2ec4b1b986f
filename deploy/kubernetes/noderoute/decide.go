package main

import (
	"cmp"
	"slices"
	"time"
)

// Policy holds the router's timings.
type Policy struct {
	// UnreadyAfter consecutive failed probes make a ready pod unready
	// (one success makes it ready): a single lost probe moves no route.
	UnreadyAfter int
	// StaleAfter without a heartbeat, a registration is gone: the pod
	// was deleted without its sidecar removing the file (a node crash, a
	// force deletion, SIGKILL).
	StaleAfter time.Duration
	// RemoveAfter without a heartbeat, the router deletes the file.
	RemoveAfter time.Duration
}

// DefaultPolicy is what the manifests run.
var DefaultPolicy = Policy{UnreadyAfter: 2, StaleAfter: 30 * time.Second, RemoveAfter: 5 * time.Minute}

// Candidate is a registered pod and what the router's probes found.
type Candidate struct {
	Registration
	Ready bool // by the probes, with UnreadyAfter's hysteresis
}

// Fresh says whether the registration's heartbeat is recent enough.
func (c Candidate) Fresh(now time.Time, p Policy) bool {
	return now.Sub(c.Heartbeat) <= p.StaleAfter
}

// Choose picks the pod the node-local addresses should be routed to, by
// its UID, given the pod they are routed to now ("" for none), or "" for
// none:
//
//  1. the ready pod registered last, so that in a rolling update with
//     surge the new pod takes the addresses once it is ready, before the
//     old one is told to stop (the DaemonSet's minReadySeconds leaves the
//     router time to see it); and a new pod that fails goes back to the
//     old one while that still runs;
//  2. with no pod ready, the current one while its registration is fresh
//     (a restarting container, a probe that fails while the kernel
//     listener still answers): moving the addresses nowhere helps nobody;
//  3. else none: the routes are removed, so that a pod IP that a deleted
//     pod leaves behind never receives the node's DNS queries once it is
//     given to another pod.
func Choose(cands []Candidate, current string, now time.Time, p Policy) string {
	var ready []Candidate
	for _, c := range cands {
		if c.Ready && c.Fresh(now, p) && len(c.IPs) > 0 {
			ready = append(ready, c)
		}
	}
	if len(ready) > 0 {
		newest := slices.MaxFunc(ready, func(a, b Candidate) int {
			if c := a.Registered.Compare(b.Registered); c != 0 {
				return c
			}
			return cmp.Compare(a.UID, b.UID) // any fixed order
		})
		return newest.UID
	}
	for _, c := range cands {
		if c.UID == current && current != "" && c.Fresh(now, p) && len(c.IPs) > 0 {
			return current
		}
	}
	return ""
}

// probeState is what the router remembers of a pod between probes.
type probeState struct {
	ready bool
	fails int
}

// observe records one probe's outcome.
func (s *probeState) observe(ok bool, p Policy) {
	if ok {
		s.ready, s.fails = true, 0
		return
	}
	s.fails++
	if s.fails >= p.UnreadyAfter {
		s.ready = false
	}
}
