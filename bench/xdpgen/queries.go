package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"
)

// readQueries reads kxdpgun's query format: one "name type" per line;
// blank lines and lines starting with # or ; are skipped.
func readQueries(r io.Reader, edns bool) ([]query, error) {
	var out []query
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		f := strings.Fields(t)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"name type\", got %q", line, t)
		}
		qt, ok := dns.StringToType[strings.ToUpper(f[1])]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown type %q", line, f[1])
		}
		if _, ok := dns.IsDomainName(f[0]); !ok {
			return nil, fmt.Errorf("line %d: bad name %q", line, f[0])
		}
		q, err := packQuery(f[0], qt, edns)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, q)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no queries")
	}
	return out, nil
}

// nameQueries asks n distinct names, n0.zone to n(N-1).zone, type A.
func nameQueries(n int, zone string, edns bool) ([]query, error) {
	if n <= 0 || n > 10_000_000 {
		return nil, fmt.Errorf("%d names: want 1 to 10,000,000", n)
	}
	zone = dns.Fqdn(zone)
	if zone == "." {
		zone = ""
	}
	out := make([]query, 0, n)
	for i := range n {
		q, err := packQuery(fmt.Sprintf("n%d.%s", i, zone), dns.TypeA, edns)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}
