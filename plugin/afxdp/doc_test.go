package afxdp

import (
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readingOrder is the file list of doc.go's "Reading order": the files
// named at the start of its list items, in order.
func readingOrder(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("doc.go has no package comment")
	}
	text := f.Doc.Text()
	_, order, ok := strings.Cut(text, "# Reading order\n")
	if !ok {
		t.Fatalf("doc.go's package comment has no \"# Reading order\" section:\n%s", text)
	}
	var files []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- ([a-z0-9_]+\.go):`).FindAllStringSubmatch(order, -1) {
		files = append(files, m[1])
	}
	return files
}

// TestReadingOrder: doc.go's reading order names every file of the
// package but doc.go and the tests, each once. A new file goes where a
// newcomer should read it.
func TestReadingOrder(t *testing.T) {
	order := readingOrder(t)
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") && n != "doc.go" {
			files = append(files, n)
		}
	}
	seen := map[string]bool{}
	for _, f := range order {
		if seen[f] {
			t.Errorf("doc.go's reading order names %s twice", f)
		}
		seen[f] = true
		if !slices.Contains(files, f) {
			t.Errorf("doc.go's reading order names %s, which is not a file of the package (renamed or gone?)", f)
		}
	}
	for _, f := range files {
		if !seen[f] {
			t.Errorf("%s is missing from doc.go's reading order: add it under the step where a newcomer should read it", f)
		}
	}
	if len(order) == 0 {
		t.Error("doc.go's reading order lists no file")
	}
}
