// Package layers holds a test, no code: the README's design notes say which
// package may depend on which ("Layers"), and this test holds the packages
// to it with `go list -deps`. Change both together.
package layers

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/afxdp/afxdp/"

const (
	bpf      = mod + "bpf"
	xsk      = mod + "plugin/afxdp/xsk"
	frame    = mod + "plugin/afxdp/frame"
	route    = mod + "plugin/afxdp/route"
	datapath = mod + "plugin/afxdp/datapath"
	hot      = mod + "plugin/afxdp/hot"
	plugin   = mod + "plugin/afxdp"
	dns      = "github.com/miekg/dns"
	coredns  = "github.com/coredns/" // coredns, caddy and the rest
)

// The README's layering, one rule per package. A forbidden entry ending in
// "/" forbids everything under it. Only the packages' own code counts: tests
// may use anything (datapath's use miekg/dns to check answers).
var rules = []struct {
	pkg       string
	forbidden []string // in the transitive dependencies (go list -deps)
	imports   []string // direct imports the README names
	stdOnly   bool     // the standard library and nothing else
}{
	// The XDP program and its loader: reads the DNS header in C, but no
	// rings, no codec, no DNS library, no CoreDNS.
	{pkg: bpf, forbidden: []string{xsk, frame, route, datapath, plugin, dns, coredns}},
	// AF_XDP: UMEM and rings; nothing of BPF or DNS.
	{pkg: xsk, forbidden: []string{bpf, frame, route, datapath, plugin, dns, coredns}},
	// The Ethernet/VLAN/IP/UDP codec: the standard library alone.
	{pkg: frame, forbidden: []string{bpf, xsk, route, datapath, plugin, dns, coredns}, stdOnly: true},
	// The kernel's routing state over rtnetlink: no BPF, rings or DNS.
	{pkg: route, forbidden: []string{bpf, xsk, frame, datapath, plugin, dns, coredns}},
	// One interface's datapath: composes the four, still no DNS library or
	// CoreDNS (its Handler gets bytes).
	{pkg: datapath, forbidden: []string{plugin, dns, coredns}, imports: []string{bpf, xsk, frame, route}},
	// Hot answers: DNS wire format (miekg/dns to fill), nothing of CoreDNS,
	// rings or BPF.
	{pkg: hot, forbidden: []string{bpf, xsk, frame, route, datapath, plugin, coredns}},
	// The CoreDNS glue: datapath and hot, and bpf and xsk directly (attach
	// modes, counters and socket settings in the Corefile).
	{pkg: plugin, imports: []string{bpf, xsk, datapath, hot}},
}

func goCmd(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(p); err != nil {
		t.Fatalf("no go command in PATH or %s", p)
	}
	return p
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command(goCmd(t), append([]string{"list"}, args...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

func TestLayers(t *testing.T) {
	for _, r := range rules {
		t.Run(strings.TrimPrefix(r.pkg, mod), func(t *testing.T) {
			deps := goList(t, "-deps", "-f", "{{.ImportPath}}", r.pkg)
			if !slices.Contains(deps, r.pkg) {
				t.Fatalf("go list -deps %s does not list the package itself: %v", r.pkg, deps)
			}
			for _, d := range deps {
				for _, f := range r.forbidden {
					if d == f || strings.HasSuffix(f, "/") && strings.HasPrefix(d, f) {
						t.Errorf("%s depends on %s (go list -deps); the README says it must not", r.pkg, d)
					}
				}
			}
			if r.stdOnly {
				for _, d := range goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", r.pkg) {
					if d != r.pkg {
						t.Errorf("%s depends on %s; the README says it uses the standard library alone", r.pkg, d)
					}
				}
			}
			imports := goList(t, "-f", `{{join .Imports " "}}`, r.pkg)
			for _, want := range r.imports {
				if !slices.Contains(imports, want) {
					t.Errorf("%s does not import %s, as the README says it does; imports: %v", r.pkg, want, imports)
				}
			}
		})
	}
}
