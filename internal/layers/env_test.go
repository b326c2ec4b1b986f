package layers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// environment are the functions that read the process's environment.
var environment = map[string]bool{
	"os.Getenv": true, "os.LookupEnv": true, "os.Environ": true, "os.ExpandEnv": true,
	"syscall.Getenv": true, "syscall.Environ": true,
}

// TestNoEnvironment: the plugin's and bpf's own code, as a release build
// compiles it (no build tags), reads no environment variable: whatever
// changes its behaviour is in the Corefile. Test hooks that need one live
// behind a build tag (datapath's afxdp_testhooks).
func TestNoEnvironment(t *testing.T) {
	for _, l := range goListLines(t, "-f", `{{.Dir}}|{{join .GoFiles ","}}`, mod+"plugin/afxdp/...", mod+"bpf") {
		dir, files, _ := strings.Cut(l, "|")
		for _, n := range strings.Split(files, ",") {
			if n == "" {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			// The local names of os and syscall in this file.
			names := map[string]string{}
			for _, im := range f.Imports {
				p := strings.Trim(im.Path.Value, `"`)
				if p != "os" && p != "syscall" {
					continue
				}
				local := p
				if im.Name != nil {
					local = im.Name.Name
				}
				names[local] = p
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && names[x.Name] != "" && environment[names[x.Name]+"."+sel.Sel.Name] {
					t.Errorf("%s: %s.%s: the product code reads the environment", fset.Position(sel.Pos()), names[x.Name], sel.Sel.Name)
				}
				return true
			})
		}
	}
}
