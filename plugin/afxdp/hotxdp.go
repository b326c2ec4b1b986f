package afxdp

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/hot"
)

// Hot answers in the XDP program: every xdpRefresh, each interface's XDP
// tier reads the program's hit counters into the entries (and so into
// CoreDNS's series at the next flush), then writes a new map of the
// entries that are still hot, TTLs set as they read xdpValid ahead and
// expiring then, and swaps it in whole. The map is refreshed twice per
// validity, so a live entry never lapses between maps.
const (
	xdpRefresh = 500 * time.Millisecond
	xdpValid   = time.Second
	// xdpKeep is how many refreshes an entry stays in the map after its
	// last answer: bursts a few seconds apart find it there.
	xdpKeep = 10
)

// xdpTier is what an interface allows of hot answers in the XDP program.
type xdpTier struct {
	iface string
	ok    bool
	why   string // why not, when !ok
}

// tierFor: XDP_TX delivers in generic mode (the frame goes out through
// the stack) and from a physical NIC's driver. A veth's XDP_TX frames go
// into its peer's NAPI: without one the kernel drops them, and with GRO
// alone they wait for the peer's next traffic; only an XDP program on the
// peer takes them at once. The peer's side cannot be seen from this
// namespace: `hot xdp` says the operator made sure.
func tierFor(name string, dp *datapath.Interface) xdpTier {
	t := xdpTier{iface: name}
	switch {
	case dp == nil:
		t.why = "no datapath"
	case dp.XDPMode() == bpf.ModeGeneric:
		t.ok = true
	case driverOf(name) == "veth":
		t.why = "a veth in native mode: its XDP_TX frames reach the peer at once only if the peer " +
			"has an XDP program; say `hot xdp` where it has"
	default:
		t.ok = true
	}
	return t
}

// driverOf is the interface's driver as ethtool names it, "" if unknown.
func driverOf(name string) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, name)
	if err != nil {
		return ""
	}
	return unix.ByteSliceToString(info.Driver[:])
}

// xdpExporter keeps one interface's hot map. Hit counters come in pairs
// (without and with OPT) per entry index; an index stays with its entry
// while the entry is in the live map, and is given to another only after
// the counters were read past the swap that dropped it, so every hit is
// credited to the entry that earned it.
type xdpExporter struct {
	dp      *datapath.Interface // the datapath whose program the state is for
	live    *bpf.HotMap
	index   map[*hot.Ref]uint32
	owner   []xdpOwner // by index
	free    []uint32
	dropped []uint32 // not in the live map; freed after the next read
	last    []uint64 // counters at the last read
	cur     []uint64
	high    uint32 // indexes below it were ever handed out: the counters read
}

type xdpOwner struct {
	ref *hot.Ref
	hl  *hotListener
}

func newXDPExporter(dp *datapath.Interface) *xdpExporter {
	x := &xdpExporter{dp: dp, index: map[*hot.Ref]uint32{}, owner: make([]xdpOwner, bpf.HotEntries),
		last: make([]uint64, bpf.HotSlots), cur: make([]uint64, bpf.HotSlots)}
	for i := bpf.HotEntries - 1; i >= 0; i-- {
		x.free = append(x.free, uint32(i))
	}
	return x
}

// xdpListener is a listener whose entries the program answers.
type xdpListener struct {
	id uint32
	hl *hotListener
}

// refresh credits the hits since the last one and installs a new map of
// ls's hot entries (none: no map).
func (x *xdpExporter) refresh(ls []xdpListener) error {
	f := x.dp.Filter()
	if err := f.HotHits(x.cur[:2*x.high]); err != nil {
		return err
	}
	x.credit()
	if len(ls) == 0 {
		if x.live != nil {
			err := f.SwapHot(nil)
			x.live.Close()
			x.live = nil
			x.dropAll()
			return err
		}
		return nil
	}
	m, err := f.NewHotMap()
	if err != nil {
		return err
	}
	kept := x.fill(m, ls)
	if err := f.SwapHot(m); err != nil {
		m.Close()
		return err
	}
	x.live.Close()
	x.live = m
	for r, i := range x.index {
		if !kept[i] {
			delete(x.index, r)
			x.dropped = append(x.dropped, i)
		}
	}
	return nil
}

// credit adds each index's new hits to its entry and listener; indexes
// dropped before the last swap have had their last hit now.
func (x *xdpExporter) credit() {
	for i := range x.owner[:x.high] {
		o := &x.owner[i]
		if o.ref == nil {
			continue
		}
		a, b := x.cur[2*i]-x.last[2*i], x.cur[2*i+1]-x.last[2*i+1]
		if a+b > 0 {
			o.ref.AddHits(a, b)
			o.hl.xdpHits.Add(a + b)
		}
	}
	copy(x.last[:2*x.high], x.cur[:2*x.high])
	for _, i := range x.dropped {
		x.owner[i] = xdpOwner{}
		x.free = append(x.free, i)
	}
	x.dropped = x.dropped[:0]
}

func (x *xdpExporter) dropAll() {
	for r, i := range x.index {
		delete(x.index, r)
		x.dropped = append(x.dropped, i)
	}
}

// fitsXDP: can the program answer this entry? (Else the loop does.)
func fitsXDP(e *hot.Export) bool {
	return len(e.Name) <= bpf.HotNameMax && len(e.RRs) <= bpf.HotRRsMax &&
		12+len(e.Name)+4+len(e.RRs) <= bpf.HotReplyMax
}

// hotEntry is e as the program keys and answers it for listener id.
func hotEntry(e *hot.Export, id uint32, expires time.Duration, slot uint32) bpf.HotEntry {
	return bpf.HotEntry{
		Listener: id, QType: e.QType, DO: e.DO, CD: e.CD, V6: e.Listener == famV6,
		Name: e.Name, Expires: expires, Slot: slot,
		AA: e.AA, RA: e.RA, AD: e.AD, ADKnown: e.ADKnown, Rcode: e.Rcode,
		AN: e.AN, NS: e.NS, EX: e.EX, RRs: e.RRs,
	}
}

// fill adds ls's hot entries to m and returns the indexes it used.
func (x *xdpExporter) fill(m *bpf.HotMap, ls []xdpListener) map[uint32]bool {
	now := time.Now()
	expires := bpf.Monotonic() + xdpValid
	kept := map[uint32]bool{}
	for _, l := range ls {
		l.hl.table.Export(now.Add(xdpValid), xdpKeep, func(e *hot.Export) {
			if !fitsXDP(e) {
				return // the receive loop answers it
			}
			i, ok := x.index[e.Ref]
			if !ok {
				if len(x.free) == 0 {
					return
				}
				i = x.free[len(x.free)-1]
				x.free = x.free[:len(x.free)-1]
				x.index[e.Ref] = i
				x.owner[i] = xdpOwner{ref: e.Ref, hl: l.hl}
				x.high = max(x.high, i+1)
			}
			he := hotEntry(e, l.id, expires, 2*i)
			if err := m.Add(&he); err == nil {
				kept[i] = true
			}
		})
	}
	return kept
}
