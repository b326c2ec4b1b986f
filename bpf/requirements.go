package bpf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

// MinKernel is the oldest Linux whose features the program and its maps
// all exist in: the newest of Requirements' (bpf_xdp_get_buff_len). It
// is a lower bound, from the features alone; the program has been loaded
// and tested on the kernel the project is developed on (README).
const MinKernel = "5.18"

// A Requirement is one kernel feature the filter needs and the release
// that brought it.
type Requirement struct {
	Feature string // as the error names it
	Since   string // Linux release
	probe   func() error
}

func helper(fn asm.BuiltinFunc, since string) Requirement {
	return Requirement{Feature: "BPF helper " + helperName(fn), Since: since,
		probe: func() error { return features.HaveProgramHelper(ebpf.XDP, fn) }}
}

func mapType(t ebpf.MapType, since string) Requirement {
	return Requirement{Feature: "BPF map type " + t.String(), Since: since,
		probe: func() error { return features.HaveMapType(t) }}
}

// helperName is the C name: FnXdpGetBuffLen -> bpf_xdp_get_buff_len.
func helperName(fn asm.BuiltinFunc) string {
	s := strings.TrimPrefix(fn.String(), "Fn")
	var b strings.Builder
	b.WriteString("bpf")
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Requirements are what the filter's object uses that a kernel may lack:
// every helper it calls (TestHelpers keeps the list equal to the object's
// calls), its map types and flags, with the release each came in.
// Beyond these, XDP links (5.9) and AF_XDP's extended statistics (5.9)
// are older than the newest here.
var Requirements = []Requirement{
	helper(asm.FnMapLookupElem, "3.19"),
	helper(asm.FnGetSmpProcessorId, "4.1"),
	helper(asm.FnXdpAdjustHead, "4.10"),
	helper(asm.FnRedirectMap, "4.14"),
	helper(asm.FnXdpAdjustTail, "4.18"),
	helper(asm.FnFibLookup, "4.18"),
	helper(asm.FnRingbufReserve, "5.8"),
	helper(asm.FnRingbufSubmit, "5.8"),
	helper(asm.FnKtimeGetCoarseNs, "5.11"),
	helper(asm.FnXdpGetBuffLen, "5.18"),
	mapType(ebpf.Array, "3.19"),
	mapType(ebpf.Hash, "3.19"),
	mapType(ebpf.PerCPUArray, "4.6"),
	mapType(ebpf.ArrayOfMaps, "4.12"),
	mapType(ebpf.XSKMap, "4.18"),
	mapType(ebpf.RingBuf, "5.8"),
	{Feature: "BPF map flag BPF_F_MMAPABLE (the hot table, shared with user space)", Since: "5.5",
		probe: func() error { return features.HaveMapFlag(features.BPF_F_MMAPABLE) }},
	{Feature: "BPF bounded loops", Since: "5.3", probe: features.HaveBoundedLoops},
}

// CheckKernel probes the running kernel for every Requirement and names
// those it lacks with the release that brought each, so that an old
// kernel fails with that instead of a verifier log. Results are cached.
func CheckKernel() error {
	var missing []string
	for _, r := range Requirements {
		err := r.probe()
		switch {
		case err == nil:
		case errors.Is(err, ebpf.ErrNotSupported):
			missing = append(missing, fmt.Sprintf("%s (Linux %s)", r.Feature, r.Since))
		default:
			return fmt.Errorf("probing the kernel for %s: %w", r.Feature, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the kernel lacks %s; afxdp needs Linux %s or later", strings.Join(missing, ", "), MinKernel)
	}
	return nil
}
