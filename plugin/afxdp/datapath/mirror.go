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

// fwdPoll is how often loopback's forwarding setting is re-read: writing
// net.ipv4.ip_forward or conf.all.forwarding resets every device's, and
// the kernel announces sysctl changes only to netconf listeners.
const fwdPoll = time.Second

// Notice reports what the datapath did on its own that an operator should
// know (a setting it restored). The plugin sets it to its log.
var Notice = func(format string, args ...any) {}

// mirror keeps what the filter knows of the kernel current: the
// interface's MACs, the namespace's local addresses and the devices the
// kernel delivers frames to; it resolves the next hops the program asks
// about and keeps loopback forwarding on (routing.go). The same rtnetlink
// announcements keep the TX path's MTU current and tell the owner when
// the RX queue count changed. It is built in the interface's network
// namespace (by Open) and follows it from any goroutine afterwards.
type mirror struct {
	name    string
	index   int
	filter  *bpf.Filter
	conn    *route.Conn
	watch   *route.Watcher
	fwd     []*forwarding
	policy  Forwarding
	asked   asked
	reqs    *bpf.NeighbourReader
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
func startMirror(name string, index int, f *bpf.Filter, mtu *atomic.Int64, onQueue func(int), policy Forwarding) (_ *mirror, err error) {
	m := &mirror{name: name, index: index, filter: f, mtu: mtu, onQueue: onQueue, policy: policy,
		changed: make(chan struct{}, 1), stop: make(chan struct{}),
		asked: asked{when: make(map[bpf.NeighbourRequest]time.Time)}}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	var set []string
	if m.fwd, set, err = openForwarding(policy); err != nil {
		return nil, err
	}
	for _, s := range set {
		Notice("interface %s: set %s=1: the XDP route check looks routes up from loopback (this forwards nothing between interfaces)", name, s)
	}
	if m.conn, err = route.Open(); err != nil {
		return nil, err
	}
	if m.queues, err = xsk.NewQueueCounter(name); err != nil {
		return nil, err
	}
	if err := m.sync(); err != nil {
		return nil, err
	}
	if m.reqs, err = f.NeighbourRequests(); err != nil {
		return nil, err
	}
	m.watch, err = route.Watch(route.Addrs|route.Links, func() {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	m.wg.Add(2)
	go m.resolve()
	go m.follow()
	return m, nil
}

// sync re-reads the MTU, the MACs, the delivering devices and the local
// addresses.
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
	if err := m.filter.SetDevices(devs); err != nil {
		return fmt.Errorf("interface %s: %w", m.name, err)
	}
	addrs, err := m.conn.LocalAddrs()
	if err != nil {
		return err
	}
	if err := m.filter.SetLocalAddrs(addrs); err != nil {
		return fmt.Errorf("interface %s: %w", m.name, err)
	}
	return nil
}

// checkForwarding re-reads loopback's forwarding settings: turned off at
// run time, each is set again (ForwardingSet) or reported once per outage
// (ForwardingKeep); meanwhile the program passes every query to the
// kernel (xdp_passed{reason="fwd_disabled"}).
func (m *mirror) checkForwarding() error {
	var errs []error
	for _, f := range m.fwd {
		changed, err := ensure(f.sysctl, m.policy)
		var off *ForwardingOffError
		switch {
		case errors.As(err, &off):
			if !f.warned {
				Notice("interface %s: %v; until then every query goes to the kernel", m.name, err)
				f.warned = true
			}
		case err != nil:
			errs = append(errs, err)
		case changed:
			Notice("interface %s: %s was reset to 0 (writing ip_forward or conf.all.forwarding does that): set it to 1 again", m.name, f.sysctl.Name)
		default:
			f.warned = false
		}
	}
	return errors.Join(errs...)
}

// follow re-syncs on every rtnetlink announcement and polls forwarding.
func (m *mirror) follow() {
	defer m.wg.Done()
	tick := time.NewTicker(fwdPoll)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-m.stop:
			return
		case <-m.changed:
			err = m.sync()
		case <-tick.C:
			err = m.checkForwarding()
		}
		if err != nil {
			m.errs.Add(1)
		}
	}
}

// resolve has the kernel resolve each next hop the program found without
// a neighbour entry, as the kernel's own reply would: the queries to it
// go to the kernel meanwhile, and the next one after the kernel's probe
// is answered in place, even when the kernel never replies itself.
func (m *mirror) resolve() {
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
		if !m.asked.first(req, time.Now()) {
			continue
		}
		if err := m.conn.Resolve(req.Index, req.Addr); err != nil {
			m.errs.Add(1)
		}
	}
}

func (m *mirror) close() {
	close(m.stop)
	m.watch.Stop()
	if m.reqs != nil {
		m.reqs.Close()
	}
	m.wg.Wait()
	closeForwarding(m.fwd)
	if m.conn != nil {
		m.conn.Close()
	}
	if m.queues != nil {
		m.queues.Close()
	}
}
