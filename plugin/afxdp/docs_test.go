package afxdp

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// parserOptions are the option names parseOption accepts: the string
// cases of its switch, read from parse.go.
func parserOptions(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "parse.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var opts []string
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "parseOption" {
			return true
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if cc, ok := n.(*ast.CaseClause); ok {
				for _, e := range cc.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						opts = append(opts, s)
					}
				}
			}
			return true
		})
		return false
	})
	slices.Sort(opts)
	return opts
}

// blockOptions are the first words of the lines inside the first block
// that opens with "afxdp INTERFACE" in text, after prefix on each line.
func blockOptions(text, prefix string) []string {
	var opts []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), prefix))
		switch {
		case strings.HasPrefix(line, "afxdp IFACE") || strings.HasPrefix(line, "afxdp INTERFACE"):
			in = len(opts) == 0
		case in && line == "}":
			slices.Sort(opts)
			return opts
		case in && line != "":
			opts = append(opts, strings.Fields(line)[0])
		}
	}
	slices.Sort(opts)
	return opts
}

// TestDocumentedOptions: the plugin README's syntax block, parse.go's
// comment and the parser name the same options.
func TestDocumentedOptions(t *testing.T) {
	want := parserOptions(t)
	if len(want) < 10 {
		t.Fatalf("found only %v in parseOption", want)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if got := blockOptions(string(readme), ""); !slices.Equal(got, want) {
		t.Errorf("README.md's syntax block lists %v; the parser takes %v", got, want)
	}
	src, err := os.ReadFile("parse.go")
	if err != nil {
		t.Fatal(err)
	}
	if got := blockOptions(string(src), "//"); !slices.Equal(got, want) {
		t.Errorf("parse.go's comment lists %v; the parser takes %v", got, want)
	}
}

// TestDocumentedMetrics: the plugin README's Metrics section lists
// exactly the metrics the plugin exports (its collector's, the handover
// vectors and the driver's features).
func TestDocumentedMetrics(t *testing.T) {
	ch := make(chan *prometheus.Desc, 100)
	collector{}.Describe(ch)
	handoverEvents.Describe(ch)
	handoverKernel.Describe(ch)
	xdpFeatures.Describe(ch)
	close(ch)
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	var want []string
	for d := range ch {
		want = append(want, fq.FindStringSubmatch(d.String())[1])
	}
	slices.Sort(want)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "\n## Metrics"); i >= 0 {
		section = section[i:]
	}
	if i := strings.Index(section[1:], "\n## "); i >= 0 {
		section = section[:i+1]
	}
	var got []string
	for _, m := range regexp.MustCompile("(?m)^\\* `(coredns_afxdp_[a-z_]+)[{`]").FindAllStringSubmatch(section, -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	if !slices.Equal(slices.Compact(got), want) {
		t.Errorf("README.md's Metrics list:\n%v\nthe plugin exports:\n%v", got, want)
	}
}
