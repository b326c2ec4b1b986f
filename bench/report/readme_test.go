package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeFigures: the READMEs' figures are the block the committed
// results make, so a change of either without the other fails here.
func TestReadmeFigures(t *testing.T) {
	var runs []*run
	for _, dir := range []string{"../../results", "../../results/all"} {
		if _, err := os.Stat(filepath.Join(dir, "results.tsv")); err != nil {
			continue
		}
		r, err := load(dir)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		t.Fatal("no committed results")
	}
	want := readmeBlock(runs)
	for _, p := range readmes {
		b, err := os.ReadFile(filepath.Join("../..", p))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		i, j := strings.Index(text, blockBegin), strings.Index(text, blockEnd)
		if i < 0 || j < i {
			t.Errorf("%s has no figures block", p)
			continue
		}
		if got := text[i : j+len(blockEnd)]; got != want {
			t.Errorf("%s's figures are not the committed results' (make bench writes them):\n%s\nwant:\n%s", p, got, want)
		}
	}
}

func TestWithBlock(t *testing.T) {
	got, ok := withBlock("a\n"+blockBegin+"\nold\n"+blockEnd+"\nb\n", "NEW")
	if !ok || got != "a\nNEW\nb\n" {
		t.Fatalf("%q %v", got, ok)
	}
	if _, ok := withBlock("no block", "NEW"); ok {
		t.Fatal("a block found in text without one")
	}
}
