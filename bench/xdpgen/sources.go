package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// sources hands out client addresses from a prefix: in order (each address
// once per cycle, the cycle being the prefix's size or 2^64, whichever is
// smaller) or drawn at random inside it.
type sources struct {
	prefix netip.Prefix
	v6     bool
	base   [16]byte // the prefix's first address, IPv4 in the first 4 bytes
	bits   int      // host bits, at most 64 are varied
	mask   uint64   // over the varied host bits
	next   uint64
	random bool
	rng    *rand.Rand
}

func newSources(p netip.Prefix, random bool, seed uint64) *sources {
	p = p.Masked()
	s := &sources{prefix: p, v6: p.Addr().Is6(), random: random, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
	s.bits = p.Addr().BitLen() - p.Bits()
	if s.v6 {
		s.base = p.Addr().As16()
	} else {
		a := p.Addr().As4()
		copy(s.base[:4], a[:])
	}
	varied := min(s.bits, 64)
	if varied == 64 {
		s.mask = ^uint64(0)
	} else {
		s.mask = 1<<varied - 1
	}
	return s
}

// size is how many addresses a walk visits before it repeats.
func (s *sources) size() uint64 {
	if s.bits >= 64 {
		return 0 // 2^64: wraps
	}
	return 1 << s.bits
}

// pick writes the next source address into a.
func (s *sources) pick(a *[16]byte) {
	var off uint64
	if s.random {
		off = s.rng.Uint64() & s.mask
	} else {
		off = s.next & s.mask
		s.next++
	}
	*a = s.base
	// The varied bits are the low bits of the address: add them to the
	// last 8 (IPv6) or 4 (IPv4) bytes. They are zero in the masked base.
	if s.v6 {
		lo := binary.BigEndian.Uint64(a[8:])
		binary.BigEndian.PutUint64(a[8:], lo|off)
	} else {
		lo := binary.BigEndian.Uint32(a[:4])
		binary.BigEndian.PutUint32(a[:4], lo|uint32(off))
	}
}

// ports hands out client ports from [lo, hi], in order or at random.
type ports struct {
	lo, n  uint32
	next   uint32
	random bool
	rng    *rand.Rand
}

func newPorts(lo, hi uint16, random bool, seed uint64) *ports {
	return &ports{lo: uint32(lo), n: uint32(hi) - uint32(lo) + 1, random: random, rng: rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))}
}

func (p *ports) pick() uint16 {
	if p.random {
		return uint16(p.lo + p.rng.Uint32N(p.n))
	}
	v := p.lo + p.next
	if p.next++; p.next == p.n {
		p.next = 0
	}
	return uint16(v)
}

// parsePortRange reads "LO-HI" (or one port).
func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		b = a
	}
	l, err1 := strconv.ParseUint(a, 10, 16)
	h, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || l == 0 || l > h {
		return 0, 0, fmt.Errorf("port range %q: want LO-HI with 1 <= LO <= HI <= 65535", s)
	}
	return uint16(l), uint16(h), nil
}

// parsePrefix reads a prefix or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseStream reads "PREFIX:RATE"; the rate follows the last colon, so IPv6
// prefixes need no brackets.
func parseStream(s string) (netip.Prefix, uint64, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.Prefix{}, 0, fmt.Errorf("stream %q: want PREFIX:RATE", s)
	}
	p, err := parsePrefix(s[:i])
	if err != nil {
		return p, 0, fmt.Errorf("stream %q: %w", s, err)
	}
	r, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return p, 0, fmt.Errorf("stream %q: rate: %w", s, err)
	}
	return p, r, nil
}
