package layers

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Module is the module's path, with the slash that every package path
// under it continues with.
const Module = "github.com/afxdp/afxdp/"

// The packages of the layering.
const (
	BPF      = Module + "bpf"
	XSK      = Module + "plugin/afxdp/xsk"
	Frame    = Module + "plugin/afxdp/frame"
	Route    = Module + "plugin/afxdp/route"
	Datapath = Module + "plugin/afxdp/datapath"
	Hot      = Module + "plugin/afxdp/hot"
	NIC      = Module + "plugin/afxdp/nic"
	Glue     = Module + "plugin/afxdp"
	Internal = Module + "internal/" // test helpers: never a dependency of product code
	DNS      = "github.com/miekg/dns"
	CoreDNS  = "github.com/coredns/" // coredns, caddy and the rest
	Prom     = "github.com/prometheus/"
)

// Rule is one package's place in the layering. Only the package's own code
// counts: its tests may import anything (datapath's use miekg/dns to check
// answers).
type Rule struct {
	Pkg string
	// Imports are the packages of this module it imports directly: exactly
	// these, no more and no fewer. They are the README's list ("Layers").
	Imports []string
	// Outside are the modules outside this one whose packages it may
	// import directly (an entry allows the module's path and everything
	// under it). The standard library is always allowed.
	Outside []string
	// Forbidden may not appear among its transitive dependencies (go list
	// -deps): an entry is one package, or, ending in "/", everything under
	// it.
	Forbidden []string
}

// Rules is the layering the README's design notes describe ("Layers"),
// one rule per package. Change both together: a test compares the
// README's lists with the Imports here.
var Rules = []Rule{
	// The XDP program and its loader: reads the DNS header in C, but no
	// rings, no codec, no DNS library, no CoreDNS.
	{Pkg: BPF,
		Outside:   []string{"github.com/cilium/ebpf", "golang.org/x/sys"},
		Forbidden: []string{XSK, Frame, Route, Datapath, Hot, NIC, Glue, Internal, DNS, CoreDNS}},
	// AF_XDP: UMEM and rings; nothing of BPF or DNS.
	{Pkg: XSK,
		Outside:   []string{"golang.org/x/sys"},
		Forbidden: []string{BPF, Frame, Route, Datapath, Hot, NIC, Glue, Internal, DNS, CoreDNS}},
	// The Ethernet/VLAN/IP/UDP codec: the standard library alone.
	{Pkg: Frame,
		Forbidden: []string{BPF, XSK, Route, Datapath, Hot, NIC, Glue, Internal, DNS, CoreDNS}},
	// The kernel's routing state over rtnetlink: no BPF, rings or DNS.
	{Pkg: Route,
		Outside:   []string{"golang.org/x/sys"},
		Forbidden: []string{BPF, XSK, Frame, Datapath, Hot, NIC, Glue, Internal, DNS, CoreDNS}},
	// One interface's datapath: composes the four, still no DNS library or
	// CoreDNS (its Handler gets bytes).
	{Pkg: Datapath,
		Imports:   []string{BPF, XSK, Frame, Route},
		Outside:   []string{"golang.org/x/sys"},
		Forbidden: []string{Hot, NIC, Glue, Internal, DNS, CoreDNS}},
	// Hot answers: DNS wire format (miekg/dns to fill), nothing of CoreDNS,
	// rings, frames or BPF.
	{Pkg: Hot,
		Outside:   []string{DNS},
		Forbidden: []string{BPF, XSK, Frame, Route, Datapath, NIC, Glue, Internal, CoreDNS}},
	// What the driver says it can do for XDP, over generic netlink: asked
	// by the glue alone (to log and export it), so it knows nothing of the
	// datapath, and nothing of CoreDNS or Prometheus.
	{Pkg: NIC,
		Outside:   []string{"golang.org/x/sys"},
		Forbidden: []string{BPF, XSK, Frame, Route, Datapath, Hot, Glue, Internal, DNS, CoreDNS, Prom}},
	// The CoreDNS glue: datapath and hot; bpf and xsk directly (attach
	// modes, counters and socket settings in the Corefile); frame (the
	// header an inline answer gets), route (the address watch) and nic
	// (the driver's features, logged and exported).
	{Pkg: Glue,
		Imports: []string{BPF, XSK, Frame, Route, Datapath, Hot, NIC},
		Outside: []string{"github.com/coredns/caddy", "github.com/coredns/coredns", DNS,
			"github.com/prometheus/client_golang", "golang.org/x/sys"},
		Forbidden: []string{Internal}},
}

// Check is what breaks r, given the package's direct imports and its
// transitive dependencies (its own code's, as go list reports them, the
// package itself included or not): an import of this module that r does
// not list, one it lists and is missing, an import from outside the module
// and the standard library that r does not allow, a forbidden dependency.
// Nil when r holds.
func Check(r Rule, imports, deps []string) []string {
	var out []string
	for _, p := range imports {
		switch {
		case p == r.Pkg:
			out = append(out, fmt.Sprintf("%s imports itself", r.Pkg))
		case strings.HasPrefix(p, Module):
			if !slices.Contains(r.Imports, p) {
				out = append(out, fmt.Sprintf("%s imports %s, which its list of imports does not name", r.Pkg, p))
			}
		case standard(p):
		case !slices.ContainsFunc(r.Outside, func(m string) bool { return p == m || strings.HasPrefix(p, m+"/") }):
			out = append(out, fmt.Sprintf("%s imports %s, from a module its rule does not allow (%v)", r.Pkg, p, r.Outside))
		}
	}
	for _, want := range r.Imports {
		if !slices.Contains(imports, want) {
			out = append(out, fmt.Sprintf("%s does not import %s, which its list of imports names", r.Pkg, want))
		}
	}
	for _, d := range deps {
		if d == r.Pkg {
			continue
		}
		for _, f := range r.Forbidden {
			if d == f || strings.HasSuffix(f, "/") && strings.HasPrefix(d, f) {
				out = append(out, fmt.Sprintf("%s depends on %s (go list -deps), which it must not", r.Pkg, d))
			}
		}
	}
	return out
}

// standard reports a standard library path: its first element has no dot.
func standard(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

// readmeNames are how the README's "Layers" paragraph introduces each
// package (its first mention), and the short names it uses in lists.
var readmeNames = []struct{ intro, short, pkg string }{
	{"`bpf/`", "bpf", BPF},
	{"`plugin/afxdp/xsk`", "xsk", XSK},
	{"`plugin/afxdp/frame`", "frame", Frame},
	{"`plugin/afxdp/route`", "route", Route},
	{"`plugin/afxdp/datapath`", "datapath", Datapath},
	{"`plugin/afxdp/hot`", "hot", Hot},
	{"`plugin/afxdp/nic`", "nic", NIC},
	{"`plugin/afxdp`", "", Glue},
}

var (
	parenthetical = regexp.MustCompile(`\([^()]*\)`)
	importsList   = regexp.MustCompile(`\b(?:imports|composes) ([^.;:]*)`)
)

// ReadmeImports reads, from the README's "Layers" paragraph, which of the
// module's packages each package imports, as the README says it: the
// packages named in the list that follows "imports" or "composes" in the
// package's part of the paragraph (from its first mention to the next
// package's), parentheses left out. "imports none of bpf", "imports no DNS
// library", "imports neither ..." name none.
func ReadmeImports(readme string) (map[string][]string, error) {
	_, para, ok := strings.Cut(readme, "**Layers.**")
	if !ok {
		return nil, fmt.Errorf("no **Layers.** paragraph")
	}
	para, _, _ = strings.Cut(para, "\n\n")
	para = strings.Join(strings.Fields(para), " ")
	type part struct {
		at  int
		pkg string
	}
	var parts []part
	short := map[string]string{}
	for _, n := range readmeNames {
		at := strings.Index(para, n.intro)
		if at < 0 {
			return nil, fmt.Errorf("the Layers paragraph does not mention %s", n.intro)
		}
		parts = append(parts, part{at, n.pkg})
		if n.short != "" {
			short[n.short] = n.pkg
		}
	}
	slices.SortFunc(parts, func(a, b part) int { return a.at - b.at })
	out := map[string][]string{}
	for k, p := range parts {
		end := len(para)
		if k+1 < len(parts) {
			end = parts[k+1].at
		}
		text := para[p.at:end]
		for parenthetical.MatchString(text) {
			text = parenthetical.ReplaceAllString(text, "")
		}
		out[p.pkg] = []string{}
		for _, m := range importsList.FindAllStringSubmatch(text, -1) {
			for _, w := range strings.Fields(strings.ReplaceAll(m[1], ",", " ")) {
				if w == "and" {
					continue
				}
				pkg, ok := short[w]
				if !ok {
					break
				}
				if !slices.Contains(out[p.pkg], pkg) {
					out[p.pkg] = append(out[p.pkg], pkg)
				}
			}
		}
	}
	return out, nil
}
