package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// load sends queries from the client at a steady pace for d: `senders`
// sockets, each sending one query per `every` and waiting (up to 2 s, no
// retry) for its answer. A query without an answer is lost.
type load struct {
	sent, answered atomic.Int64
	firstErr       atomic.Value
	wait           func()
}

func (tb *testbed) steadyLoad(d time.Duration, senders int, every time.Duration) *load {
	tb.t.Helper()
	l := &load{}
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for s := range senders {
		var conn net.Conn
		if err := tb.cli.Do(func() (err error) {
			conn, err = net.Dial("udp", fmt.Sprintf("%s:53", srv4))
			return err
		}); err != nil {
			tb.t.Fatal(err)
		}
		wg.Go(func() {
			dc := &dns.Conn{Conn: conn}
			defer dc.Close()
			m := new(dns.Msg)
			for n := 0; time.Now().Before(stop); n++ {
				next := time.Now().Add(every)
				m.SetQuestion(fmt.Sprintf("h%d.example.org.", (s*7919+n)%1000), dns.TypeA)
				l.sent.Add(1)
				dc.SetDeadline(time.Now().Add(2 * time.Second))
				err := dc.WriteMsg(m)
				var r *dns.Msg
				for err == nil {
					if r, err = dc.ReadMsg(); err == nil && r.Id == m.Id {
						break
					}
				}
				if err == nil && r.Rcode == dns.RcodeSuccess {
					l.answered.Add(1)
				} else if err != nil {
					l.firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", m.Question[0].Name, err))
				}
				time.Sleep(time.Until(next))
			}
		})
	}
	tb.t.Cleanup(wg.Wait)
	l.wait = wg.Wait
	return l
}

func (l *load) lost() int64 { return l.sent.Load() - l.answered.Load() }

func TestKillLeavesNoProgram(t *testing.T) {
	tb := newTestbed(t, 2)
	srv := tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n}\n", zone))
	tb.waitAFXDP(srv4)
	srv.signal(syscall.SIGKILL)
	srv.waitExit(10 * time.Second)
	for end := time.Now().Add(3 * time.Second); tb.xdpAttached() && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	if tb.xdpAttached() {
		t.Error("XDP program left on veth-s after SIGKILL")
	}
}

func TestStartupErrors(t *testing.T) {
	tb := newTestbed(t, 2)
	cases := []struct {
		name, corefile, want string
		user                 bool
	}{
		{"unknown interface", ".:53 {\n    whoami\n    afxdp nosuch0\n}\n", `Corefile:3 - Error during parsing: unknown interface "nosuch0"`, false},
		{"unknown option", ".:53 {\n    afxdp veth-s {\n        turbo on\n    }\n}\n", `Corefile:3 - Error during parsing: unknown option "turbo"`, false},
		{"bad value", ".:53 {\n    afxdp veth-s {\n        ring_size 1000\n    }\n}\n", `Corefile:3 - Error during parsing: ring_size: ring size 1000`, false},
		{"claimed twice", "a.example:53 {\n    afxdp veth-s\n    whoami\n}\nb.example:53 {\n    afxdp veth-s {\n        batch 8\n    }\n    whoami\n}\n",
			`Corefile:6 - Error during parsing: interface veth-s claimed twice with different settings (first at /`, false},
		{"not plain dns", "tls://.:853 {\n    afxdp veth-s\n    whoami\n}\n", `serves plain DNS over UDP`, false},
		{"no privileges", ".:5300 {\n    afxdp veth-s\n    whoami\n}\n", `Corefile:2 - Error during parsing: missing privileges: CAP_NET_ADMIN`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb.t = t
			var srv *coredns
			if c.user {
				srv = tb.launchAs(tb.srv, c.corefile, "nobody")
			} else {
				srv = tb.launch(tb.srv, c.corefile)
			}
			if code := srv.waitExit(10 * time.Second); code == 0 {
				t.Fatalf("exit code 0 for a bad configuration:\n%s", srv.output())
			}
			if !strings.Contains(srv.output(), c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, srv.output())
			}
		})
	}
	if tb.xdpAttached() {
		t.Error("a failed start left an XDP program on veth-s")
	}
}
