package datapath

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/route"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

// rpPoll is how often the rp_filter setting is re-read; the kernel
// announces sysctl changes only to netconf listeners, and two small reads a
// second cost nothing.
const rpPoll = time.Second

// mirror keeps the filter's copy of the kernel's input checks current: the
// interface's MACs, the namespace's local addresses, the rp_filter setting,
// and the verdict on each source the program asks about (routing.go). The
// same rtnetlink announcements keep the TX path's MTU current and tell the
// owner when the RX queue count changed. It is built in the interface's
// network namespace (by Open) and follows it from any goroutine afterwards.
type mirror struct {
	name    string
	index   int
	filter  *bpf.Filter
	conn    *route.Conn
	watch   *route.Watcher
	neigh   *route.Watcher
	rp      *route.RPFilter
	devs    atomic.Pointer[devices] // where the kernel delivers frames, by VLAN tag
	hops    hops
	reqs    *bpf.RouteReader
	mtu     *atomic.Int64 // the interface's, kept current for the TX path
	queues  *xsk.QueueCounter
	onQueue func(n int) // told the RX queue count after each sync (nil: not followed)
	changed chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup

	errs atomic.Uint64 // kernel reads or map writes that failed
}

// startMirror tells the filter what the kernel knows now and starts
// following it. The filter is right before the first frame arrives.
func startMirror(name string, index int, f *bpf.Filter, mtu *atomic.Int64, onQueue func(int)) (_ *mirror, err error) {
	m := &mirror{name: name, index: index, filter: f, mtu: mtu, onQueue: onQueue, changed: make(chan struct{}, 1), stop: make(chan struct{}),
		hops: hops{mac: make(map[nextHop]hop)}}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if m.conn, err = route.Open(); err != nil {
		return nil, err
	}
	if m.rp, err = route.OpenRPFilter(name); err != nil {
		return nil, err
	}
	if m.queues, err = xsk.NewQueueCounter(name); err != nil {
		return nil, err
	}
	if err := m.sync(); err != nil {
		return nil, err
	}
	if _, err := m.pollRP(-1); err != nil {
		return nil, err
	}
	if m.reqs, err = f.RouteRequests(); err != nil {
		return nil, err
	}
	m.watch, err = route.Watch(route.Addrs|route.Routes|route.Links, func() {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	if m.neigh, err = route.WatchNeighbours(m.neighbourChanged, m.countedFlush); err != nil {
		return nil, err
	}
	m.wg.Add(2)
	go m.answer()
	go m.follow()
	return m, nil
}

// sync re-reads the MTU, the MACs, the delivering devices and local
// addresses and forgets every route verdict: whatever changed, the kernel
// may now judge sources differently.
func (m *mirror) sync() error {
	l, err := m.conn.Link(m.index)
	if err != nil {
		return err
	}
	if l.MTU > 0 {
		m.mtu.Store(int64(l.MTU))
	}
	if m.onQueue != nil {
		if n, err := m.queues.Count(); err == nil {
			m.onQueue(n)
		}
	}
	var master []byte
	if l.Master != 0 {
		ml, err := m.conn.Link(l.Master)
		if err != nil {
			return err
		}
		master = ml.MAC
	}
	if err := m.filter.SetMACs(l.MAC, master); err != nil {
		return fmt.Errorf("interface %s: %w", m.name, err)
	}
	devs, err := readDevices(m.conn, l)
	if err != nil {
		return err
	}
	m.devs.Store(&devs)
	addrs, err := m.conn.LocalAddrs()
	if err != nil {
		return err
	}
	if err := m.filter.SetLocalAddrs(addrs); err != nil {
		return fmt.Errorf("interface %s: %w", m.name, err)
	}
	return m.flush()
}

// flush forgets every verdict.
func (m *mirror) flush() error {
	m.hops.reset()
	return m.filter.FlushRoutes()
}

func (m *mirror) countedFlush() {
	if err := m.flush(); err != nil {
		m.errs.Add(1)
	}
}

// neighbourChanged flushes the verdicts when a next hop they send to got
// another MAC or became unreachable (hops.stale says which changes count).
func (m *mirror) neighbourChanged(ch route.NeighbourChange) {
	if m.hops.stale(ch) {
		m.countedFlush()
	}
}

// pollRP sets the filter's rp_filter mode if it differs from last.
func (m *mirror) pollRP(last int) (int, error) {
	mode, err := m.rp.Read()
	if err != nil {
		return last, err
	}
	if mode > bpf.RPLoose { // as the kernel reads it: any other odd value is strict
		mode = bpf.RPStrict
	}
	if mode != last {
		m.hops.reset()
		if err := m.filter.SetRPFilter(mode); err != nil {
			return last, err
		}
	}
	return mode, nil
}

// follow re-syncs on every rtnetlink announcement and polls rp_filter.
func (m *mirror) follow() {
	defer m.wg.Done()
	tick := time.NewTicker(rpPoll)
	defer tick.Stop()
	mode := -1
	for {
		var err error
		select {
		case <-m.stop:
			return
		case <-m.changed:
			err = m.sync()
		case <-tick.C:
			mode, err = m.pollRP(mode)
		}
		if err != nil {
			m.errs.Add(1)
		}
	}
}

// answer asks the kernel about each source the program asks about. A
// source whose next hop is not resolved yet is recorded as pending, and
// one it could not ask about keeps what it had: the program passes its
// queries to the kernel (or follows the older verdict) and asks again a
// second later.
func (m *mirror) answer() {
	defer m.wg.Done()
	for {
		req, err := m.reqs.Read()
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			m.errs.Add(1)
			continue
		}
		if m.hops.full() {
			m.countedFlush()
		}
		r, err := m.judge(req)
		if errors.Is(err, errPending) {
			r, err = bpf.Route{Verdict: bpf.RoutePending}, nil
		}
		if err == nil {
			err = m.filter.SetRoute(req, r)
		}
		if err != nil {
			m.errs.Add(1)
		}
	}
}

func (m *mirror) close() {
	close(m.stop)
	m.watch.Stop()
	m.neigh.Stop()
	if m.reqs != nil {
		m.reqs.Close()
	}
	m.wg.Wait()
	if m.rp != nil {
		m.rp.Close()
	}
	if m.conn != nil {
		m.conn.Close()
	}
	if m.queues != nil {
		m.queues.Close()
	}
}
