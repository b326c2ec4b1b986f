package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The capabilities afxdp needs (README, Requirements); port 53 adds
// CAP_NET_BIND_SERVICE as for any DNS server.
var leastCaps = []string{"net_admin", "net_raw", "bpf", "perfmon", "ipc_lock", "net_bind_service"}

// TestLeastPrivilege runs coredns as an unprivileged user with exactly the
// documented capabilities: it serves through AF_XDP. Without any one of the
// afxdp ones it refuses to start and names the one missing.
func TestLeastPrivilege(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.dropKernelDNS()
	corefile := fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n}\n", zone)
	srv := tb.launchCaps(tb.srv, corefile, "nobody", leastCaps)
	if !srv.waitFor("CoreDNS-", 10*time.Second) {
		t.Fatalf("did not start with %v:\n%s", leastCaps, srv.output())
	}
	tb.waitAFXDP(srv4)
	if r := tb.ask(srv6, "www.example.org.", dns.TypeAAAA); len(r.Answer) != 1 {
		t.Errorf("as nobody: %v", r)
	}
	srv.cmd.Process.Kill()
	srv.waitExit(5 * time.Second)

	for _, missing := range []struct{ cap, want string }{
		{"net_admin", "CAP_NET_ADMIN"}, {"net_raw", "CAP_NET_RAW"}, {"bpf", "CAP_BPF"}, {"perfmon", "CAP_PERFMON"}, {"ipc_lock", "CAP_IPC_LOCK"},
	} {
		var caps []string
		for _, c := range leastCaps {
			if c != missing.cap {
				caps = append(caps, c)
			}
		}
		srv := tb.launchCaps(tb.srv, corefile, "nobody", caps)
		if code := srv.waitExit(10 * time.Second); code == 0 {
			t.Errorf("started without %s", missing.want)
		}
		if out := srv.output(); !strings.Contains(out, "Corefile:2 - Error during parsing: missing privileges: ") || !strings.Contains(out, missing.want) {
			t.Errorf("without %s the error does not name it:\n%s", missing.want, out)
		}
	}
	if tb.xdpAttached() {
		t.Error("a refused start left an XDP program")
	}
}
