package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The program's limits for hot answers (xdp_dns.c): longer names, larger
// record sets or replies, or more records are not answered in XDP.
const (
	HotNameMax  = 64  // wire octets of the name, root label included
	HotRRsMax   = 480 // record bytes of one entry
	HotReplyMax = 512 // DNS reply bytes: within every size rule of the chain
	HotTTLs     = 12  // records (TTL fields) of one entry

	// The hot table's size: HotSmallCells entries whose records fit
	// HotCellRRs bytes (one cell each), and HotLargeEntries larger ones
	// (three cells each). A cell is 256 bytes, so the table takes
	// HotCells*256 bytes (40 MiB) and its index 4 MiB, allocated when the
	// program loads; the hit counters 8 bytes per entry per possible CPU.
	// The program's maps are sized by the same numbers (xdp_dns.c's
	// HOT_CELLS, HOT_ENTRIES, HOT_BUCKETS); a test holds them together.
	HotCells        = HotSmallCells + 3*HotLargeEntries
	HotSmallCells   = 131072
	HotLargeEntries = 10922
	HotCellRRs      = 128
	HotCellSize     = 256
	HotEntries      = HotSmallCells + HotLargeEntries // the most entries the cells hold
	HotSlots        = 2 * HotEntries                  // hit counters: two per entry

	hotBuckets = 65536
	hotWays    = 8
	hotTagCell = 1<<24 - 1

	// HotClockSlack is how much earlier than an entry's Base the table
	// says its TTLs were set: the program reads CLOCK_MONOTONIC_COARSE,
	// which lags by at most a tick (10 ms at HZ=100), so its TTL is
	// never above the one Base and TTL give.
	HotClockSlack = 20 * time.Millisecond
)

// ErrHotBucketFull: every way of the entry's bucket holds another entry.
var ErrHotBucketFull = errors.New("hot table bucket is full")

// HotEntry is one hot answer as the program serves it.
type HotEntry struct {
	Listener   uint32 // the served map's value for the listener (ServeAs)
	QType      uint16
	DO, CD, V6 bool   // V6: for IPv6 clients
	Name       []byte // the lowercased wire name, root label included

	// The records read TTL at Base (CLOCK_MONOTONIC); the program writes
	// TTL less the whole seconds since Base into the fields at TTLAt,
	// and stops serving the entry when that would be 1 or less.
	Base  time.Duration
	TTL   uint32
	TTLAt []uint16 // offsets in RRs of the TTL fields, 1..HotTTLs of them

	AA, RA, AD, ADKnown bool
	Rcode               uint8 // 0..15
	AN, NS, EX          uint16
	RRs                 []byte // Answer, Ns, Extra but the OPT: uncompressed (TTL fields ignored)
}

// HotCellsFor is how many cells an entry with n record bytes takes.
func HotCellsFor(n int) int {
	if n <= HotCellRRs {
		return 1
	}
	return 3
}

// Monotonic is the program's clock (bpf_ktime_get_ns: CLOCK_MONOTONIC).
func Monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("CLOCK_MONOTONIC: %v", err)) // cannot fail on Linux
	}
	return time.Duration(ts.Nano())
}

func (e *HotEntry) check() error {
	switch {
	case len(e.Name) == 0 || len(e.Name) > HotNameMax:
		return fmt.Errorf("hot entry: name of %d bytes", len(e.Name))
	case len(e.RRs) == 0 || len(e.RRs) > HotRRsMax:
		return fmt.Errorf("hot entry: %d record bytes", len(e.RRs))
	case len(e.TTLAt) == 0 || len(e.TTLAt) > HotTTLs:
		return fmt.Errorf("hot entry: %d TTL fields", len(e.TTLAt))
	case e.Rcode > 15:
		return fmt.Errorf("hot entry: rcode %d", e.Rcode)
	case e.TTL < 2:
		return fmt.Errorf("hot entry: TTL %d", e.TTL)
	}
	for _, at := range e.TTLAt {
		if int(at)+4 > len(e.RRs) {
			return fmt.Errorf("hot entry: TTL field at %d of %d record bytes", at, len(e.RRs))
		}
	}
	return nil
}

func (e *HotEntry) key() filterHotKey {
	var k filterHotKey
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
	return k
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

// hotMix is hot.h's hot_mix: the key's hash, bucket in the low bits.
func hotMix(k *filterHotKey) uint64 {
	h := k.NameHash ^ (uint64(k.Listener)<<32 | uint64(k.Qtype)<<16 | uint64(k.Flags)<<8 | uint64(k.NameLen))
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

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

// HotTable is the program's hot table, written through shared memory:
// an index of buckets of tags and the cells the tags point at (see
// xdp_dns.c's hot_bucket). Which cells are free is the caller's to keep:
// a cell may be written only while no tag points at it and no run of
// the program that saw one still reads it, that is after a Sync that
// followed its Remove (or its replacement). One writer at a time.
type HotTable struct {
	tags  []uint64 // hotBuckets * hotWays, shared with the program
	cells []byte   // HotCells * HotCellSize, shared with the program
	hits  []uint32 // per CPU, per slot: queries without and with OPT
	mem   [][]byte // the mappings, for Close
	sync  *ebpf.Map
	inner *ebpf.Map
}

// ErrClosed: the filter was closed.
var ErrClosed = errors.New("XDP filter closed")

// UseHotTable calls fn with the program's hot table, which stays mapped
// until fn returns: Close waits for it, so a refresher racing a reopen
// that closes the filter gets ErrClosed instead of unmapped memory.
func (f *Filter) UseHotTable(fn func(*HotTable) error) error {
	f.hotMu.RLock()
	defer f.hotMu.RUnlock()
	if f.closed {
		return ErrClosed
	}
	t, err := f.HotTable()
	if err != nil {
		return err
	}
	return fn(t)
}

// HotTable maps the program's hot table into this process. The table is
// empty when the program loads; Clear empties it again. It stays mapped
// until Close: a caller that may race Close uses UseHotTable.
func (f *Filter) HotTable() (*HotTable, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hot != nil {
		return f.hot, nil
	}
	idx, err := mmapArray(f.objs.HotIndex)
	if err != nil {
		return nil, fmt.Errorf("mapping the hot index: %w", err)
	}
	cells, err := mmapArray(f.objs.HotCells)
	if err != nil {
		unix.Munmap(idx)
		return nil, fmt.Errorf("mapping the hot cells: %w", err)
	}
	hits, err := mmapArray(f.objs.HotHits)
	if err != nil {
		unix.Munmap(idx)
		unix.Munmap(cells)
		return nil, fmt.Errorf("mapping the hot hit counters: %w", err)
	}
	inner, err := ebpf.NewMap(f.syncSpec)
	if err != nil {
		unix.Munmap(idx)
		unix.Munmap(cells)
		unix.Munmap(hits)
		return nil, fmt.Errorf("creating the hot table's sync map: %w", err)
	}
	f.hot = &HotTable{
		tags:  unsafe.Slice((*uint64)(unsafe.Pointer(&idx[0])), hotBuckets*hotWays),
		cells: cells[:HotCells*HotCellSize],
		hits:  unsafe.Slice((*uint32)(unsafe.Pointer(&hits[0])), 2*f.objs.HotHits.MaxEntries()),
		mem:   [][]byte{idx, cells, hits},
		sync:  f.objs.HotSync,
		inner: inner,
	}
	return f.hot, nil
}

func mmapArray(m *ebpf.Map) ([]byte, error) {
	size := int(m.ValueSize()) * int(m.MaxEntries())
	page := unix.Getpagesize()
	size = (size + page - 1) / page * page
	return unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func (t *HotTable) close() {
	if t == nil {
		return
	}
	for _, m := range t.mem {
		unix.Munmap(m)
	}
	t.mem = nil
	t.inner.Close()
}

func (t *HotTable) cell(i uint32) *filterHotCell {
	return (*filterHotCell)(unsafe.Pointer(&t.cells[int(i)*HotCellSize]))
}

func (t *HotTable) tag(i int) uint64       { return atomic.LoadUint64(&t.tags[i]) }
func (t *HotTable) setTag(i int, v uint64) { atomic.StoreUint64(&t.tags[i], v) }

// Put writes e into the cells from cell on (HotCellsFor(len(e.RRs)) of
// them, free) and points its bucket at them; its hits count in slot
// (Hits). An entry of the same key it replaces is returned (its
// first cell, ok): its cells are the caller's to free after the next Sync.
// ErrHotBucketFull: no way was free.
func (t *HotTable) Put(e *HotEntry, cell, slot uint32) (old uint32, replaced bool, err error) {
	if err := e.check(); err != nil {
		return 0, false, err
	}
	if slot >= HotEntries {
		return 0, false, fmt.Errorf("hot entry: slot %d", slot)
	}
	n := HotCellsFor(len(e.RRs))
	if int(cell)+n > HotCells {
		return 0, false, fmt.Errorf("hot entry: cells %d+%d of %d", cell, n, HotCells)
	}
	k := e.key()
	c := t.cell(cell)
	*c = filterHotCell{Listener: k.Listener, Qtype: k.Qtype, Flags: k.Flags, NameLen: k.NameLen}
	k.NameHash = hotHash(e.Name, &c.Name)
	c.Slot = slot
	c.Base = uint64(max(e.Base-HotClockSlack, 0))
	c.Ttl = e.TTL
	c.RrsLen = uint16(len(e.RRs))
	if e.AA {
		c.Flags2 = 0x04
	}
	c.Flags3 = e.Rcode
	if e.RA {
		c.Flags3 |= 0x80
	}
	if e.AD {
		c.Ad = 0x20
	}
	if e.ADKnown {
		c.AdKnown = 1
	}
	c.An, c.Ns, c.Ex = be16(e.AN), be16(e.NS), be16(e.EX)
	c.Nttl = uint8(len(e.TTLAt))
	for i, at := range e.TTLAt {
		c.TtlAt[i] = at
		c.OddTtls += uint8(at & 1)
	}
	// The records with their TTL fields 0, spread over the cells.
	var rrs [HotRRsMax]byte
	copy(rrs[:], e.RRs)
	for _, at := range e.TTLAt {
		clear(rrs[at : at+4])
	}
	c.RrsSum = onesSum(rrs[:len(e.RRs)])
	copy(c.Rrs[:], rrs[:])
	if n > 1 {
		more := t.cells[(int(cell)+1)*HotCellSize : (int(cell)+3)*HotCellSize]
		copy(more, rrs[HotCellRRs:])
	}

	h := hotMix(&k)
	tag := h&^hotTagCell | uint64(cell+1)
	b := int(h%hotBuckets) * hotWays
	free := -1
	for i := b; i < b+hotWays; i++ {
		v := t.tag(i)
		switch {
		case v == 0:
			if free < 0 {
				free = i
			}
		case (v^h)&^hotTagCell == 0 && t.sameKey(uint32(v&hotTagCell)-1, c):
			t.setTag(i, tag)
			return uint32(v&hotTagCell) - 1, true, nil
		}
	}
	if free < 0 {
		return 0, false, ErrHotBucketFull
	}
	t.setTag(free, tag)
	return 0, false, nil
}

// sameKey: does cell i hold the key of c?
func (t *HotTable) sameKey(i uint32, c *filterHotCell) bool {
	o := t.cell(i)
	return o.Listener == c.Listener && o.Qtype == c.Qtype && o.Flags == c.Flags && o.NameLen == c.NameLen && o.Name == c.Name
}

// Remove takes the entry whose first cell is cell out of the index; false
// if no tag points at it (it was replaced, or never put).
func (t *HotTable) Remove(cell uint32) bool {
	c := t.cell(cell)
	k := filterHotKey{Listener: c.Listener, Qtype: c.Qtype, Flags: c.Flags, NameLen: c.NameLen}
	var h uint64
	for j, w := range c.Name {
		if 8*j < int(c.NameLen) {
			h = (h ^ w) * hotHashMul
		}
	}
	k.NameHash = h
	b := int(hotMix(&k)%hotBuckets) * hotWays
	for i := b; i < b+hotWays; i++ {
		if v := t.tag(i); v != 0 && uint32(v&hotTagCell) == cell+1 {
			t.setTag(i, 0)
			return true
		}
	}
	return false
}

// Clear takes every entry out of the index.
func (t *HotTable) Clear() {
	for i := range t.tags {
		if t.tag(i) != 0 {
			t.setTag(i, 0)
		}
	}
}

// Sync returns once no run of the program that started before it is
// still running: cells removed before it may then be written again. It
// updates a map-in-map, which waits for an RCU grace period (a few ms).
func (t *HotTable) Sync() error {
	if err := t.sync.Put(uint32(0), t.inner); err != nil {
		return fmt.Errorf("waiting for the XDP program's runs: %w", err)
	}
	return nil
}

// Hits puts the hit counters of the first len(dst)/2 slots, summed over
// CPUs, in dst: dst[2s] for queries without OPT, dst[2s+1] with. The
// counters are 32 bits and wrap: the caller keeps the last reading and
// takes differences modulo 2^32.
func (t *HotTable) Hits(dst []uint32) {
	n := min(len(dst), 2*HotEntries)
	clear(dst[:n])
	for cpu := 0; cpu+2*HotEntries <= len(t.hits); cpu += 2 * HotEntries {
		for i, v := range t.hits[cpu : cpu+n] { // (aligned 32-bit loads: whole values)
			dst[i] += v
		}
	}
}
