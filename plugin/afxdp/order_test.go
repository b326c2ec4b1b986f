package afxdp

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"slices"
	"sort"
	"testing"
)

// maxForwardRefs is the most uses the glue may make of names declared in
// a file later in doc.go's reading order: 91 before issue 24 reordered
// the files, 30 after. Lower it when a move brings the count down, never
// raise it: a newcomer reading in order should meet a name before its use.
const maxForwardRefs = 30

// forwardRef is one use of a top-level name before its file in the
// reading order.
type forwardRef struct {
	pos      token.Position
	name     string
	declared string
}

// forwardRefs type-checks the package's non-test files (imports left
// unresolved: only the package's own names matter) and returns the uses,
// in file, of top-level funcs, types, vars, consts and methods declared
// in a file later in order.
func forwardRefs(t *testing.T, order []string) []forwardRef {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range append([]string{"doc.go"}, order...) {
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	rank := map[string]int{}
	for i, n := range order {
		rank[n] = i
	}
	// top maps the position of every top-level declared name to its file.
	top := map[token.Pos]string{}
	for _, f := range files {
		name := fset.File(f.Pos()).Name()
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				top[d.Name.Pos()] = name
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						top[s.Name.Pos()] = name
					case *ast.ValueSpec:
						for _, id := range s.Names {
							top[id.Pos()] = name
						}
					}
				}
			}
		}
	}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{
		Importer: unresolved{},
		Error:    func(error) {}, // imported names stay unknown; local ones resolve
	}
	conf.Check("afxdp", fset, files, info) //nolint:errcheck // errors are the unresolved imports
	var refs []forwardRef
	for id, obj := range info.Uses {
		declared, ok := top[obj.Pos()]
		if !ok {
			continue
		}
		pos := fset.Position(id.Pos())
		user, ok := rank[pos.Filename]
		if ok && rank[declared] > user {
			refs = append(refs, forwardRef{pos, id.Name, declared})
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i].pos, refs[j].pos
		return a.Filename < b.Filename || a.Filename == b.Filename && a.Offset < b.Offset
	})
	return refs
}

// unresolved imports nothing: the check needs only the package's own
// declarations, and loading CoreDNS's tree would cost the test seconds.
type unresolved struct{}

func (unresolved) Import(path string) (*types.Package, error) {
	return nil, fmt.Errorf("not loaded: %s", path)
}

var _ types.Importer = unresolved{}

// TestForwardReferences: the glue reads in one direction, each file
// using mainly what the files before it in doc.go's reading order
// declare. The count may fall, not rise above maxForwardRefs.
func TestForwardReferences(t *testing.T) {
	order := readingOrder(t)
	refs := forwardRefs(t, order)
	pairs := map[string]int{}
	for _, r := range refs {
		pairs[r.pos.Filename+" -> "+r.declared]++
	}
	var keys []string
	for k := range pairs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("%3d %s", pairs[k], k)
	}
	t.Logf("%d uses of names declared later in the reading order (at most %d)", len(refs), maxForwardRefs)
	if len(refs) > maxForwardRefs {
		for _, r := range refs {
			t.Errorf("%s: %s is declared in %s, later in doc.go's reading order", r.pos, r.name, r.declared)
		}
	}
}
