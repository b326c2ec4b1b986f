package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The program's limits for hot answers (hot.h): longer names, larger
// record sets or replies are not answered in XDP.
const (
	HotNameMax  = 64  // wire octets of the name, root label included
	HotRRsMax   = 480 // record bytes of one entry
	HotReplyMax = 512 // DNS reply bytes: within every size rule of the chain
	HotEntries  = 32768
	HotSlots    = 2 * HotEntries // hit counters: two per entry

	// HotClockSlack is how much earlier than an entry's Expires the map
	// says it expires: the program reads CLOCK_MONOTONIC_COARSE, which
	// lags by at most a tick (10 ms at HZ=100).
	HotClockSlack = 20 * time.Millisecond
)

// HotEntry is one hot answer as the program serves it. Its TTLs are
// already what the records must read until Expires; the program never
// serves it from Expires on (from HotClockSlack before).
type HotEntry struct {
	Listener   uint32 // the served map's value for the listener (ServeAs)
	QType      uint16
	DO, CD, V6 bool   // V6: for IPv6 clients
	Name       []byte // the lowercased wire name, root label included
	Expires    time.Duration
	Slot       uint32 // hits land in Slot (queries without OPT) and Slot+1 (with)

	AA, RA, AD, ADKnown bool
	Rcode               uint8 // 0..15
	AN, NS, EX          uint16
	RRs                 []byte // Answer, Ns, Extra but the OPT: uncompressed, TTLs set
}

// Monotonic is the program's clock (bpf_ktime_get_ns: CLOCK_MONOTONIC).
func Monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("CLOCK_MONOTONIC: %v", err)) // cannot fail on Linux
	}
	return time.Duration(ts.Nano())
}

// HotKey and HotValue are the map's key and value for e.
func (e *HotEntry) kv() (filterHotKey, filterHotValue, error) {
	var k filterHotKey
	var v filterHotValue
	switch {
	case len(e.Name) == 0 || len(e.Name) > HotNameMax:
		return k, v, fmt.Errorf("hot entry: name of %d bytes", len(e.Name))
	case len(e.RRs) == 0 || len(e.RRs) > HotRRsMax:
		return k, v, fmt.Errorf("hot entry: %d record bytes", len(e.RRs))
	case e.Slot+1 >= HotSlots:
		return k, v, fmt.Errorf("hot entry: slot %d", e.Slot)
	case e.Rcode > 15:
		return k, v, fmt.Errorf("hot entry: rcode %d", e.Rcode)
	}
	k.Listener = e.Listener
	k.Qtype = be16(e.QType)
	if e.DO {
		k.Flags |= 1
	}
	if e.CD {
		k.Flags |= 2
	}
	if e.V6 {
		k.Flags |= 4
	}
	k.NameLen = uint8(len(e.Name))
	k.NameHash = hotHash(e.Name, &v.Name)

	v.Expires = uint64(max(e.Expires-HotClockSlack, 0))
	v.Slot = e.Slot
	v.RrsLen = uint16(len(e.RRs))
	v.RrsSum = onesSum(e.RRs)
	if e.AA {
		v.Flags2 = 0x04
	}
	v.Flags3 = e.Rcode
	if e.RA {
		v.Flags3 |= 0x80
	}
	if e.AD {
		v.Ad = 0x20
	}
	if e.ADKnown {
		v.AdKnown = 1
	}
	v.An, v.Ns, v.Ex = be16(e.AN), be16(e.NS), be16(e.EX)
	copy(v.Rrs[:], e.RRs)
	return k, v, nil
}

// hotHash hashes name as the program does (hot.h's hot_name: its bytes as
// little-endian words, zero after the name; each word xored in, then
// multiplied) and puts the words in words.
func hotHash(name []byte, words *[HotNameMax / 8]uint64) uint64 {
	var buf [HotNameMax]byte
	copy(buf[:], name)
	var h uint64
	for j := range words {
		words[j] = binary.LittleEndian.Uint64(buf[8*j:])
		if 8*j < len(name) {
			h = (h ^ words[j]) * hotHashMul
		}
	}
	return h
}

const hotHashMul = 0x9e3779b97f4a7c15

// onesSum is the one's-complement sum of b as big-endian 16-bit words
// from an even offset, folded, not inverted.
func onesSum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// HotMap is a set of hot entries being made; the program sees it once
// SwapHot puts it in place, and never again after it is replaced.
type HotMap struct {
	m    *ebpf.Map
	keys []filterHotKey
	vals []filterHotValue
}

// NewHotMap makes an empty map of the program's hot map type.
func (f *Filter) NewHotMap() (*HotMap, error) {
	m, err := ebpf.NewMap(f.hotSpec)
	if err != nil {
		return nil, fmt.Errorf("creating a hot answer map: %w", err)
	}
	return &HotMap{m: m}, nil
}

// Add queues e for the map; Flush writes what was queued.
func (h *HotMap) Add(e *HotEntry) error {
	if len(h.keys) >= HotEntries {
		return errors.New("hot answer map is full")
	}
	k, v, err := e.kv()
	if err != nil {
		return err
	}
	h.keys = append(h.keys, k)
	h.vals = append(h.vals, v)
	return nil
}

// Len is the number of entries added.
func (h *HotMap) Len() int { return len(h.keys) }

// flush writes the queued entries in batches.
func (h *HotMap) flush() error {
	const batch = 1024
	for i := 0; i < len(h.keys); i += batch {
		j := min(i+batch, len(h.keys))
		if _, err := h.m.BatchUpdate(h.keys[i:j], h.vals[i:j], nil); err != nil {
			return fmt.Errorf("writing hot answers: %w", err)
		}
	}
	h.keys, h.vals = h.keys[:0], h.vals[:0]
	return nil
}

// Close frees the map (the program keeps one it still uses).
func (h *HotMap) Close() error {
	if h == nil {
		return nil
	}
	return h.m.Close()
}

// SwapHot writes h's entries and makes h the program's hot map (nil: none,
// no hot answers). When it returns, no run of the program uses the map it
// replaced (the kernel waits for them: map-in-map update), which the
// caller may then close or reuse.
func (f *Filter) SwapHot(h *HotMap) error {
	if h == nil {
		err := f.objs.HotMaps.Delete(uint32(0))
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("removing the hot answer map: %w", err)
		}
		return nil
	}
	if err := h.flush(); err != nil {
		return err
	}
	if err := f.objs.HotMaps.Put(uint32(0), h.m); err != nil {
		return fmt.Errorf("installing the hot answer map: %w", err)
	}
	return nil
}

// HotHits reads the first len(dst) hit counters (at most HotSlots),
// summed over CPUs, into dst. The counters only grow; the caller keeps
// the last reading. Reading fewer costs less: hand out slots from 0 up.
func (f *Filter) HotHits(dst []uint64) error {
	if len(dst) > HotSlots {
		return fmt.Errorf("hot hits: %d counters asked, %d exist", len(dst), HotSlots)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	const batch = 4096
	keys := make([]uint32, batch)
	vals := make([]uint64, batch*ncpu)
	var cursor ebpf.MapBatchCursor
	for done := 0; done < len(dst); {
		want := min(batch, len(dst)-done)
		n, err := f.objs.HotHits.BatchLookup(&cursor, keys[:want], vals[:want*ncpu], nil)
		for i := range n {
			var s uint64
			for _, c := range vals[i*ncpu : (i+1)*ncpu] {
				s += c
			}
			if k := keys[i]; int(k) < len(dst) {
				dst[k] = s
			}
		}
		done += n
		if errors.Is(err, ebpf.ErrKeyNotExist) || n == 0 {
			break
		}
		if err != nil {
			return fmt.Errorf("reading hot hits: %w", err)
		}
	}
	return nil
}
