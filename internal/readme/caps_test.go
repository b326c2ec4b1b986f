package readme

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCaps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "README.md")
	os.WriteFile(p, []byte("x\n\n| capability | why |\n|---|---|\n| `CAP_NET_RAW` | sockets |\n| `CAP_BPF` | load |\n\nprose `CAP_SYS_ADMIN`\n"), 0o644)
	if got, err := Caps(p); err != nil || !slices.Equal(got, []string{"CAP_BPF", "CAP_NET_RAW"}) {
		t.Fatalf("%v, %v", got, err)
	}
	os.WriteFile(p, []byte("no table\n"), 0o644)
	if _, err := Caps(p); err == nil {
		t.Fatal("no error without a table")
	}
	got, err := Caps("../../README.md")
	if err != nil || len(got) != 6 {
		t.Fatalf("the top README's table: %v, %v", got, err)
	}
}
