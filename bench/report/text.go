package main

import "strings"

// perS is a rate of run.txt as the prose says it: 10k/s, 12345/s.
func perS(rate string) string {
	k := kilo(rate)
	if strings.HasSuffix(k, "k") {
		k += "/s"
	}
	return k
}

// versions is the peers' versions after Knot's: dnsmasq's, and dnsdist's
// when the run had it, as "; "-separated text.
func versions(r *run) string {
	v := r.meta["dnsmasq"]
	if d := r.meta["dnsdist"]; d != "" {
		v += "; " + d
	}
	return v
}

// knotZone says what Knot served in a run's working set: since
// 2026-12-07 a zone with the N names as records of their own; before,
// the upstream's wildcard, which ends every name at one node of its tree.
func knotZone(r *run) string {
	if r.meta["ws_knot_zone"] == "records" {
		return "Knot serves\na zone with the N names as records of their own (nothing to warm; it looks up N nodes)."
	}
	return "Knot serves the\nwildcard (nothing to warm; every name ends at the same node of its tree)."
}
