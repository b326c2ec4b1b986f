package bpf

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"

	"github.com/afxdp/afxdp/internal/priv"
)

// TestRequirementsCoverHelpers: the helpers Requirements probes are the
// ones the object calls (wantHelpers, which TestHelpers holds to the
// object), and MinKernel is the newest release among them.
func TestRequirementsCoverHelpers(t *testing.T) {
	var got []string
	newest := "0.0"
	for _, r := range Requirements {
		if newer(r.Since, newest) {
			newest = r.Since
		}
		got = append(got, r.Feature)
	}
	for _, fn := range wantHelpers {
		if !slices.Contains(got, "BPF helper "+helperName(fn)) {
			t.Errorf("Requirements do not probe %s", helperName(fn))
		}
	}
	helpers := slices.DeleteFunc(slices.Clone(got), func(s string) bool { return !strings.HasPrefix(s, "BPF helper ") })
	if n := len(helpers); n != len(wantHelpers) {
		t.Errorf("Requirements probe %d helpers, the object calls %d", n, len(wantHelpers))
	}
	if newest != MinKernel {
		t.Errorf("MinKernel %s, the newest requirement is from %s", MinKernel, newest)
	}
	if helperName(asm.FnXdpGetBuffLen) != "bpf_xdp_get_buff_len" {
		t.Errorf("helperName: %s", helperName(asm.FnXdpGetBuffLen))
	}
}

// newer compares releases "a.b".
func newer(a, b string) bool {
	parse := func(s string) (int, int) {
		m, n, _ := strings.Cut(s, ".")
		x, _ := strconv.Atoi(m)
		y, _ := strconv.Atoi(n)
		return x, y
	}
	am, an := parse(a)
	bm, bn := parse(b)
	return am > bm || (am == bm && an > bn)
}

// TestCheckKernel: this kernel has everything.
func TestCheckKernel(t *testing.T) {
	priv.Require(t)
	if err := CheckKernel(); err != nil {
		t.Fatal(err)
	}
}

// TestProbeAgreesWithLoad: for a helper the program calls and for one
// kernels differ on (bpf_xdp_adjust_meta, which the development kernel
// refuses for every XDP program), the probe's verdict is a real load's.
func TestProbeAgreesWithLoad(t *testing.T) {
	priv.Require(t)
	for _, fn := range []asm.BuiltinFunc{asm.FnXdpGetBuffLen, asm.FnXdpAdjustMeta, asm.FnKtimeGetCoarseNs} {
		probe := features.HaveProgramHelper(ebpf.XDP, fn)
		if probe != nil && !errors.Is(probe, ebpf.ErrNotSupported) {
			t.Fatalf("%s: probe: %v", helperName(fn), probe)
		}
		prog, load := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R2, 0),
			fn.Call(),
			asm.Mov.Imm(asm.R0, 2),
			asm.Return(),
		}})
		if load == nil {
			prog.Close()
		}
		t.Logf("%s: probe %v, load %v", helperName(fn), probe, load)
		if (probe == nil) != (load == nil) {
			t.Errorf("%s: the probe says %v, a load %v", helperName(fn), probe, load)
		}
	}
}
