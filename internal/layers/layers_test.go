package layers

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// mod is Module, short, for the tests.
const mod = Module

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

// goListOutput is go list's output.
func goListOutput(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(goCmd(t), append([]string{"list"}, args...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	return strings.Fields(goListOutput(t, args...))
}

// goListLines is go list's output, one line a package.
func goListLines(t *testing.T, args ...string) []string {
	t.Helper()
	return strings.Split(strings.TrimSpace(goListOutput(t, args...)), "\n")
}

// TestLayers runs Check on each package's exact import set and its
// transitive dependencies, as go list reports them for its own code.
func TestLayers(t *testing.T) {
	for _, r := range Rules {
		t.Run(strings.TrimPrefix(r.Pkg, mod), func(t *testing.T) {
			deps := goList(t, "-deps", "-f", "{{.ImportPath}}", r.Pkg)
			if !slices.Contains(deps, r.Pkg) {
				t.Fatalf("go list -deps %s does not list the package itself: %v", r.Pkg, deps)
			}
			imports := goList(t, "-f", `{{join .Imports " "}}`, r.Pkg)
			if len(imports) == 0 {
				t.Fatalf("go list finds no import of %s", r.Pkg)
			}
			for _, p := range Check(r, imports, deps) {
				t.Error(p)
			}
		})
	}
}

// TestRulesCoverPlugin: every package of the plugin and bpf has a rule,
// so a new package cannot slip past the layering.
func TestRulesCoverPlugin(t *testing.T) {
	for _, p := range goList(t, "-f", "{{.ImportPath}}", mod+"plugin/afxdp/...", mod+"bpf") {
		if !slices.ContainsFunc(Rules, func(r Rule) bool { return r.Pkg == p }) {
			t.Errorf("%s has no rule in Rules (and no place in the README's Layers paragraph)", p)
		}
	}
}

// TestCheck holds the checker to made-up import sets.
func TestCheck(t *testing.T) {
	a, b, c := mod+"a", mod+"b", mod+"c"
	rule := Rule{Pkg: a, Imports: []string{b}, Outside: []string{"example.com/lib"}, Forbidden: []string{c, "example.com/bad/"}}
	for _, tc := range []struct {
		name          string
		imports, deps []string
		want          int // problems found
		mention       string
	}{
		{name: "exactly its list", imports: []string{"fmt", b}, deps: []string{a, b, "fmt"}},
		{name: "the standard library is always allowed", imports: []string{b, "net/netip", "unsafe", "C"}, deps: []string{b}},
		{name: "an allowed module and its packages", imports: []string{b, "example.com/lib", "example.com/lib/sub"}, deps: []string{b}},
		{name: "a module of the same prefix is another module", imports: []string{b, "example.com/library"}, want: 1, mention: "example.com/library"},
		{name: "an unlisted import of this module", imports: []string{b, c}, want: 1, mention: c},
		{name: "an unlisted import that is also forbidden", imports: []string{b, c}, deps: []string{a, b, c}, want: 2, mention: "depends on " + c},
		{name: "an unlisted import, not a forbidden one", imports: []string{b, mod + "d"}, want: 1, mention: mod + "d"},
		{name: "a listed import missing", imports: []string{"fmt"}, want: 1, mention: "does not import " + b},
		{name: "nothing imported", want: 1, mention: "does not import " + b},
		{name: "itself", imports: []string{a, b}, want: 1, mention: "imports itself"},
		{name: "an outside import not allowed", imports: []string{b, "github.com/miekg/dns"}, want: 1, mention: "github.com/miekg/dns"},
		{name: "a forbidden package among the deps", imports: []string{b}, deps: []string{a, b, c}, want: 1, mention: "depends on " + c},
		{name: "a forbidden package's subpackage is another package", imports: []string{b}, deps: []string{c + "/sub"}},
		{name: "a forbidden prefix", imports: []string{b}, deps: []string{"example.com/bad/x", "example.com/bad/y"}, want: 2, mention: "example.com/bad/x"},
		{name: "the package itself among its deps", imports: []string{b}, deps: []string{a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(rule, tc.imports, tc.deps)
			if len(got) != tc.want {
				t.Fatalf("Check(%v, %v) = %q, want %d problem(s)", tc.imports, tc.deps, got, tc.want)
			}
			if tc.mention != "" && !strings.Contains(strings.Join(got, "\n"), tc.mention) {
				t.Errorf("Check(%v, %v) = %q, want a mention of %s", tc.imports, tc.deps, got, tc.mention)
			}
		})
	}
}

// TestReadmeLayers: the README's Layers paragraph names, for each package,
// the same imports of this module as Rules.
func TestReadmeLayers(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := ReadmeImports(string(b))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, r := range Rules {
		said, ok := readme[r.Pkg]
		if !ok {
			t.Errorf("README.md's Layers paragraph has no part for %s", r.Pkg)
			continue
		}
		got := slices.Sorted(slices.Values(said))
		want := slices.Sorted(slices.Values(r.Imports))
		if !slices.Equal(got, want) {
			t.Errorf("README.md says %s imports %v, Rules says %v: change both together", r.Pkg, said, r.Imports)
		}
	}
}

// TestReadmeImports holds the README reader to made-up paragraphs.
func TestReadmeImports(t *testing.T) {
	intro := "`bpf/` is the program. `plugin/afxdp/xsk` is AF_XDP; it imports none of bpf, frame or route. " +
		"`plugin/afxdp/frame` is the codec. `plugin/afxdp/route` reads routes; it imports none of the others. " +
		"`plugin/afxdp/nic` reads the driver's features; it imports none of them. "
	for _, tc := range []struct {
		name, para string
		want       map[string][]string
		err        bool
	}{
		{
			name: "lists, parentheses and negations",
			para: "**Layers.** Tests may import more (bpf, xsk). " + intro +
				"`plugin/afxdp/datapath` composes bpf, xsk, frame and route into a datapath; it imports neither\nmiekg/dns nor CoreDNS. " +
				"`plugin/afxdp/hot` holds hot answers (`bpf/hot.h` is the program's). " +
				"`plugin/afxdp` is the glue: it imports datapath and hot, and bpf (attach modes,\ncounters) and xsk (socket settings) directly; it feeds metrics.\n\nNext paragraph: it imports route.",
			want: map[string][]string{
				BPF: {}, XSK: {}, Frame: {}, Route: {}, Hot: {}, NIC: {},
				Datapath: {BPF, XSK, Frame, Route},
				Glue:     {Datapath, Hot, BPF, XSK},
			},
		},
		{
			name: "the list stops at the first word that names no package",
			para: "**Layers.** " + intro + "`plugin/afxdp/datapath` imports bpf and a hot path. `plugin/afxdp/hot` x. `plugin/afxdp` imports hot.",
			want: map[string][]string{
				BPF: {}, XSK: {}, Frame: {}, Route: {}, Hot: {}, NIC: {},
				Datapath: {BPF},
				Glue:     {Hot},
			},
		},
		{name: "no paragraph", para: "# afxdp\n\nLayers: none.", err: true},
		{name: "a package not mentioned", para: "**Layers.** " + intro + "`plugin/afxdp` imports hot.", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadmeImports(tc.para)
			if tc.err {
				if err == nil {
					t.Fatalf("ReadmeImports = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("ReadmeImports = %v, want %v", got, tc.want)
			}
			for pkg, w := range tc.want {
				if !slices.Equal(got[pkg], w) {
					t.Errorf("%s: ReadmeImports says %v, want %v", pkg, got[pkg], w)
				}
			}
		})
	}
}
