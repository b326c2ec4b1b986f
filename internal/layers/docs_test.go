package layers

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPackageDocs: every package of the plugin, bpf and internal/ has its
// package comment in doc.go (what it does, what it must never know, where
// to start reading), and in no other file: one package comment each.
func TestPackageDocs(t *testing.T) {
	out := goListLines(t, "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}},{{join .IgnoredGoFiles ","}}`,
		mod+"plugin/afxdp/...", mod+"bpf", mod+"internal/...")
	if len(out) < 10 {
		t.Fatalf("go list found %d packages: %v", len(out), out)
	}
	for _, l := range out {
		f := strings.SplitN(l, "|", 3)
		if len(f) != 3 {
			t.Fatalf("go list line %q", l)
		}
		path, dir := f[0], f[1]
		var files []string
		for _, n := range strings.Split(f[2], ",") {
			if n != "" && !strings.HasSuffix(n, "_test.go") && !slices.Contains(files, n) {
				files = append(files, n)
			}
		}
		t.Run(strings.TrimPrefix(path, mod), func(t *testing.T) {
			var with []string
			for _, n := range files {
				pf, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, n), nil, parser.ParseComments|parser.PackageClauseOnly)
				if err != nil {
					t.Fatal(err)
				}
				if pf.Doc != nil {
					with = append(with, n)
				}
			}
			want := []string{"doc.go"}
			if !slices.Equal(with, want) {
				t.Errorf("package comment in %v, want it in %v alone (one package comment per package; files: %v)", with, want, files)
			}
		})
	}
}
