package bpf

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/afxdp/afxdp/internal/priv"
)

// TestVerifierBudget keeps the program well inside the verifier's limit
// of a million processed instructions: inlining the hot answer into every
// path of the filter once took it to 919 k, a few changes (or another
// kernel's verifier) short of not loading at all, and to a second of
// verification at every start and reopen.
func TestVerifierBudget(t *testing.T) {
	priv.Require(t)
	spec, err := loadFilter()
	if err != nil {
		t.Fatal(err)
	}
	var objs filterObjects
	opts := &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats}}
	if err := spec.LoadAndAssign(&objs, opts); err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	m := regexp.MustCompile(`processed (\d+) insns`).FindStringSubmatch(objs.XdpDns.VerifierLog)
	if m == nil {
		t.Fatalf("no instruction count in the verifier's log:\n%s", objs.XdpDns.VerifierLog)
	}
	n, _ := strconv.Atoi(m[1])
	t.Logf("the verifier processed %d instructions", n)
	if n > 500_000 {
		t.Errorf("the verifier processed %d instructions, want at most half its limit (500000)", n)
	}
}
