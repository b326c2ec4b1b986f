package afxdp

import (
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/hot"
)

// Hot answers in the XDP program: every xdpRefresh, each interface's XDP
// tier reads the program's hit counters into the entries (and so into
// CoreDNS's series at the next flush), then applies what changed in its
// listeners' tables since the last refresh (fills, replacements,
// evictions: the tables' journals) to the program's hot table, and takes
// out entries that expired or that the program has not answered for
// xdpIdle. Nothing is rewritten because time passed: the program lowers
// the TTLs itself. So a refresh costs what changed, and a read of the
// counters of what is held.
const (
	xdpRefresh = 500 * time.Millisecond
	// xdpIdle: an entry the program has not answered for this long leaves
	// its table (parked: the receive loop's next answer from it brings it
	// back), so idle names do not hold cells a busy one could use.
	xdpIdle = 5 * time.Second
)

// xdpExporter keeps one interface's hot table in the program. Each entry
// it holds has a first cell (and two more if large) and a slot of hit
// counters. Cells and slots of an entry taken out are freed only after a
// Sync (no run of the program reads them any more) and a read of the
// counters after that, so every hit is credited to the entry that earned
// it and no run ever reads a cell being rewritten.
type xdpExporter struct {
	dp      *datapath.Interface // the datapath whose program the state is for
	prog    *bpf.Filter         // its program
	table   *bpf.HotTable
	held    map[*hot.Ref]xdpHeld
	bySlot  []xdpOwner // by slot/2
	cellOf  []uint32   // by first cell: its slot/2 + 1, 0 if none
	slots   []uint32   // free slot pairs (slot/2), lowest last
	small   []uint32   // free one-cell entries' cells
	large   []uint32   // free three-cell entries' first cells
	removed []xdpHeld  // out of the table since the last Sync
	synced  []xdpHeld  // out before the last Sync: freed after the next read
	last    []uint32   // counters at the last read (they wrap: differences mod 2^32)
	cur     []uint32
	high    uint32 // slot pairs below it were ever handed out: the counters read
	cursors map[*hotListener]uint64
	round   uint64
	changes []hot.Change
	stats   *xdpStats
}

type xdpHeld struct{ cell, slot uint32 }

type xdpOwner struct {
	ref     *hot.Ref
	hl      *hotListener
	expires time.Time // from then on its TTL would be 1 or less
	lastHit uint64    // the round of its last answer (or its arrival)
	large   bool
}

// xdpStats are an interface's XDP tier counts, for the metrics.
type xdpStats struct {
	entries atomic.Int64
	removed [numXDPRemovals]atomic.Uint64
	refused [numXDPRefusals]atomic.Uint64
	busy    atomic.Int64 // thread CPU nanoseconds spent refreshing
}

// add carries o's counts into s (an interface dropped and opened again).
func (s *xdpStats) add(o *xdpStats) {
	for i := range s.removed {
		s.removed[i].Add(o.removed[i].Load())
	}
	for i := range s.refused {
		s.refused[i].Add(o.refused[i].Load())
	}
	s.busy.Add(o.busy.Load())
}

// Why an entry left the program's table.
const (
	xdpGone     = iota // its table dropped it (replaced, evicted, expired there, cleared)
	xdpExpired         // its TTL ran out
	xdpIdleOut         // not answered for xdpIdle
	xdpUnlisted        // its listener no longer answers in XDP (reload, hot off)
	numXDPRemovals
)

var xdpRemovalNames = [numXDPRemovals]string{"gone", "expired", "idle", "listener"}

// Why an entry could not enter it.
const (
	xdpTooBig     = iota // longer name, larger records or more records than the program takes
	xdpFull              // no free cells
	xdpBucketFull        // its bucket's eight ways were taken
	numXDPRefusals
)

var xdpRefusalNames = [numXDPRefusals]string{"too_big", "full", "bucket_full"}

func newXDPExporter(dp *datapath.Interface, prog *bpf.Filter, stats *xdpStats) *xdpExporter {
	x := &xdpExporter{dp: dp, prog: prog, held: map[*hot.Ref]xdpHeld{}, bySlot: make([]xdpOwner, bpf.HotEntries), cellOf: make([]uint32, bpf.HotCells),
		last: make([]uint32, 2*bpf.HotEntries), cur: make([]uint32, 2*bpf.HotEntries),
		cursors: map[*hotListener]uint64{}, stats: stats}
	for i := bpf.HotEntries - 1; i >= 0; i-- {
		x.slots = append(x.slots, uint32(i))
	}
	for c := bpf.HotSmallCells - 1; c >= 0; c-- {
		x.small = append(x.small, uint32(c))
	}
	for c := bpf.HotCells - 3; c >= bpf.HotSmallCells; c -= 3 {
		x.large = append(x.large, uint32(c))
	}
	stats.entries.Store(0)
	return x
}

// xdpListener is a listener whose entries the program answers.
type xdpListener struct {
	id uint32
	hl *hotListener
}

// refresh credits the hits since the last one, then brings the program's
// table up to ls's tables: what changed in them, what expired or idled.
// The caller runs it on a locked OS thread, so the thread's CPU time is
// the refresh's (the metric); a Sync's wait is not CPU time.
func (x *xdpExporter) refresh(ls []xdpListener) error {
	cpu0 := threadCPU()
	defer func() { x.stats.busy.Add(int64(threadCPU() - cpu0)) }()
	return x.prog.UseHotTable(func(t *bpf.HotTable) error {
		if x.table == nil {
			// A table an earlier exporter of this program left: cleared,
			// and no run reads its cells once Sync returns.
			t.Clear()
			if err := t.Sync(); err != nil {
				return err
			}
			x.table = t
		}
		return x.apply(ls)
	})
}

func (x *xdpExporter) apply(ls []xdpListener) error {
	start := time.Now()
	x.round++
	x.credit()
	x.follow(ls)
	x.sweep(start)
	x.stats.entries.Store(int64(len(x.held)))
	if len(x.removed) == 0 {
		return nil
	}
	if err := x.table.Sync(); err != nil {
		return err
	}
	x.synced = append(x.synced, x.removed...)
	x.removed = x.removed[:0]
	return nil
}

// credit adds each slot's new hits to its entry and listener; entries
// out of the table before the last Sync have had their last hit now, and
// their cells and slots are free again.
func (x *xdpExporter) credit() {
	x.table.Hits(x.cur[:2*x.high])
	for i := range x.bySlot[:x.high] {
		o := &x.bySlot[i]
		if o.ref == nil {
			continue
		}
		a, b := uint64(x.cur[2*i]-x.last[2*i]), uint64(x.cur[2*i+1]-x.last[2*i+1])
		if a+b > 0 {
			o.ref.AddHits(a, b)
			o.hl.xdpHits.Add(a + b)
			o.lastHit = x.round
		}
	}
	copy(x.last[:2*x.high], x.cur[:2*x.high])
	for _, h := range x.synced {
		o := &x.bySlot[h.slot]
		x.cellOf[h.cell] = 0
		if o.large {
			x.large = append(x.large, h.cell)
		} else {
			x.small = append(x.small, h.cell)
		}
		*o = xdpOwner{}
		x.slots = append(x.slots, h.slot)
	}
	x.synced = x.synced[:0]
}

// follow applies each listener's journal; a listener seen for the first
// time, or whose journal lost changes, is taken whole from its table.
// Entries of listeners no longer in ls leave.
func (x *xdpExporter) follow(ls []xdpListener) {
	live := make(map[*hotListener]bool, len(ls))
	for _, l := range ls {
		live[l.hl] = true
	}
	for hl := range x.cursors {
		if !live[hl] {
			delete(x.cursors, hl)
			x.removeWhere(func(o *xdpOwner) bool { return o.hl == hl }, xdpUnlisted)
		}
	}
	for _, l := range ls {
		cs, next, ok := l.hl.table.Changes(x.cursors[l.hl], x.changes[:0])
		x.cursors[l.hl] = next
		x.changes = cs
		if !ok {
			x.resync(l)
			continue
		}
		for _, c := range cs {
			if c.Gone {
				x.remove(c.Ref, xdpGone)
			} else {
				x.add(c.Ref, l)
			}
		}
	}
	clear(x.changes)
}

// resync makes l's entries in the program those of its table.
func (x *xdpExporter) resync(l xdpListener) {
	in := map[*hot.Ref]bool{}
	l.hl.table.Range(func(r *hot.Ref) { in[r] = true })
	x.removeWhere(func(o *xdpOwner) bool { return o.hl == l.hl && !in[o.ref] }, xdpGone)
	for r := range in {
		x.add(r, l)
	}
}

// sweep takes out entries that expire before the next refresh, or that
// the program has not answered for xdpIdle (parked, so that the receive
// loop's next answer brings them back). It reads only the owners, in
// order: the entries themselves are far apart in memory.
func (x *xdpExporter) sweep(now time.Time) {
	idle := uint64(xdpIdle / xdpRefresh)
	next := now.Add(xdpRefresh)
	for i := range x.bySlot[:x.high] {
		o := &x.bySlot[i]
		r := o.ref
		if r == nil {
			continue
		}
		if h, ok := x.held[r]; !ok || h.slot != uint32(i) {
			continue // out already, waiting for its Sync
		}
		switch {
		case !next.Before(o.expires):
			x.remove(r, xdpExpired)
		case x.round-o.lastHit >= idle:
			x.remove(r, xdpIdleOut)
			r.Park()
		}
	}
}

func (x *xdpExporter) removeWhere(match func(*xdpOwner) bool, why int) {
	for r, h := range x.held {
		if match(&x.bySlot[h.slot]) {
			x.remove(r, why)
		}
	}
}

// remove takes r out of the program's table, if it is there.
func (x *xdpExporter) remove(r *hot.Ref, why int) {
	h, ok := x.held[r]
	if !ok {
		return
	}
	delete(x.held, r)
	x.table.Remove(h.cell) // false if a refill of its key took its way
	x.removed = append(x.removed, h)
	x.stats.removed[why].Add(1)
}

// add puts r's entry in the program's table, unless it is there, gone,
// about to expire or one the program cannot answer. When no cell or way
// is free it stays in the receive loop until its next refill: parking it
// would have every answer the loop gives it retried here, and with more
// hot names than cells (a million) that churn cost more than it saved.
func (x *xdpExporter) add(r *hot.Ref, l xdpListener) {
	if _, ok := x.held[r]; ok || r.Gone() {
		return
	}
	now := time.Now()
	if r.Remaining(now.Add(xdpRefresh)) <= 1 {
		return
	}
	e := r.Export()
	if !fitsXDP(&e) {
		x.stats.refused[xdpTooBig].Add(1)
		return
	}
	large := bpf.HotCellsFor(len(e.RRs)) > 1
	free := &x.small
	if large {
		free = &x.large
	}
	if len(*free) == 0 || len(x.slots) == 0 {
		x.stats.refused[xdpFull].Add(1)
		return
	}
	cell, slot := (*free)[len(*free)-1], x.slots[len(x.slots)-1]
	he := hotEntry(&e, l.id, bpf.Monotonic()-now.Sub(e.Filled))
	old, replaced, err := x.table.Put(&he, cell, slot)
	if err != nil {
		x.stats.refused[xdpBucketFull].Add(1)
		return
	}
	*free = (*free)[:len(*free)-1]
	x.slots = x.slots[:len(x.slots)-1]
	x.held[r] = xdpHeld{cell: cell, slot: slot}
	x.bySlot[slot] = xdpOwner{ref: r, hl: l.hl, lastHit: x.round, large: large,
		expires: e.Filled.Add(time.Duration(e.TTL-1) * time.Second)}
	x.cellOf[cell] = slot + 1
	x.high = max(x.high, slot+1)
	if replaced {
		x.replaced(old)
	}
}

// replaced forgets the entry whose way a refill of its key took: its
// cells leave with the next Sync (the refill's Gone change comes after).
func (x *xdpExporter) replaced(cell uint32) {
	s := x.cellOf[cell]
	if s == 0 {
		return
	}
	r := x.bySlot[s-1].ref
	if h, ok := x.held[r]; ok && h.cell == cell {
		x.remove(r, xdpGone) // its tag is the refill's now: Remove finds none
	}
}

// fitsXDP: can the program answer this entry? (Else the loop does.)
func fitsXDP(e *hot.Export) bool {
	return len(e.Name) <= bpf.HotNameMax && len(e.RRs) <= bpf.HotRRsMax && len(e.TTLAt) <= bpf.HotTTLs &&
		12+len(e.Name)+4+len(e.RRs) <= bpf.HotReplyMax
}

// hotEntry is e as the program keys and answers it for listener id, its
// TTLs read at base (CLOCK_MONOTONIC).
func hotEntry(e *hot.Export, id uint32, base time.Duration) bpf.HotEntry {
	return bpf.HotEntry{
		Listener: id, QType: e.QType, DO: e.DO, CD: e.CD, V6: e.Family == famV6,
		Name: e.Name, Base: base, TTL: e.TTL, TTLAt: e.TTLAt,
		AA: e.AA, RA: e.RA, AD: e.AD, ADKnown: e.ADKnown, Rcode: e.Rcode,
		AN: e.AN, NS: e.NS, EX: e.EX, RRs: e.RRs,
	}
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// refreshXDP keeps every interface's hot table in the XDP program, for
// the life of the process.
func (r *registry) refreshXDP() {
	runtime.LockOSThread() // its CPU time is the refreshes' (threadCPU)
	t := time.NewTicker(xdpRefresh)
	defer t.Stop()
	failed := map[string]string{}
	for range t.C {
		for _, j := range r.xdpJobs() {
			if j.f.xdp == nil || j.f.xdp.dp != j.dp {
				j.f.xdp = newXDPExporter(j.dp, j.dp.Filter(), &j.f.xdpStats) // a new program: its own table and counters
			}
			err := j.f.xdp.refresh(j.ls)
			switch {
			case err != nil && failed[j.f.name] != err.Error():
				log.Warningf("interface %s: hot answers in XDP: %v", j.f.name, err)
				failed[j.f.name] = err.Error()
			case err == nil:
				delete(failed, j.f.name)
			}
		}
	}
}

type xdpJob struct {
	f  *iface
	dp *datapath.Interface
	ls []xdpListener
}

// xdpJobs lists what each interface's program answers now.
func (r *registry) xdpJobs() []xdpJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	var jobs []xdpJob
	for _, f := range r.ifaces {
		if f.dp == nil {
			continue
		}
		var ls []xdpListener
		for _, l := range f.listeners {
			if id := l.xdpID(); id != 0 {
				ls = append(ls, xdpListener{id: id, hl: l.hot})
			}
		}
		if len(ls) > 0 || f.xdp != nil {
			jobs = append(jobs, xdpJob{f: f, dp: f.dp, ls: ls})
		}
	}
	return jobs
}
