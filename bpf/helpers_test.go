package bpf

import (
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
)

// wantHelpers are the kernel helpers filter_bpfel.o calls, sorted. A
// change to the program that calls another (or no longer calls one)
// changes this list; bpf_xdp_adjust_meta must never be on it: this
// kernel refuses it for every XDP program (AFXDP-FACTS.md).
var wantHelpers = []asm.BuiltinFunc{
	asm.FnMapLookupElem,     // 1: counters, config, served, ports, local, vlans, the hot table
	asm.FnGetSmpProcessorId, // 8: hot answers, the CPU's part of the hit counters
	asm.FnXdpAdjustHead,     // 44: hot answers, room at the front
	asm.FnRedirectMap,       // 51: to the queue's AF_XDP socket
	asm.FnXdpAdjustTail,     // 65: hot answers, room at the tail
	asm.FnFibLookup,         // 69: the route back, for every query
	asm.FnRingbufReserve,    // 131: neighbour requests
	asm.FnRingbufSubmit,     // 132
	asm.FnKtimeGetCoarseNs,  // 160: hot answers' TTLs, the neighbour requests' window
	asm.FnXdpGetBuffLen,     // 188: hot answers
}

// TestHelpers lists the helpers the compiled program calls (every
// program and function in the object) and compares them with
// wantHelpers.
func TestHelpers(t *testing.T) {
	spec, err := loadFilter()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[asm.BuiltinFunc]bool{}
	funcs := map[string]bool{}
	for name, p := range spec.Programs {
		n := 0
		for _, ins := range p.Instructions {
			if s := ins.Symbol(); s != "" {
				funcs[s] = true
			}
			if ins.IsBuiltinCall() {
				seen[asm.BuiltinFunc(ins.Constant)] = true
				n++
			}
		}
		t.Logf("%s: %d instructions, %d helper calls", name, len(p.Instructions), n)
	}
	// The global functions (verified on their own) are in the programs'
	// instructions.
	if !funcs["xdp_dns"] || !funcs["hot_answer"] || !funcs["hot_records"] {
		t.Fatalf("functions seen: %v; want xdp_dns, hot_answer and hot_records", funcs)
	}
	var got []asm.BuiltinFunc
	for fn := range seen {
		got = append(got, fn)
	}
	slices.Sort(got)
	var names []string
	for _, fn := range got {
		names = append(names, fn.String())
	}
	if !slices.Equal(got, wantHelpers) {
		t.Errorf("the program calls %s", strings.Join(names, ", "))
	}
	if !seen[asm.FnFibLookup] {
		t.Error("the program does not call bpf_fib_lookup")
	}
	if seen[asm.FnXdpAdjustMeta] {
		t.Error("the program calls bpf_xdp_adjust_meta, which this kernel refuses to XDP programs")
	}
}
