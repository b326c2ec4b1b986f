// Command knotpatch makes a copy of Debian's libknot in which Knot's XDP
// program no longer calls bpf_xdp_adjust_meta, for kernels that refuse
// that helper to every XDP program (6.18 on the benchmark's machine kind):
// there knotd in XDP mode cannot start at all, so the benchmark would have
// no Knot row. The call's one instruction becomes `r0 = 0`, which tells the
// program the metadata area was made; Knot's program already copes with a
// metadata area it cannot use (it sets meta to 0, as on a tap device).
// The library stays the packaged one in every other byte; the benchmark
// loads the copy through LD_LIBRARY_PATH and says so on Knot's rows.
//
//	knotpatch -in /usr/lib/x86_64-linux-gnu/libknot.so.13 -out DIR/libknot.so.13
package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
)

// The helper's number in the kernel's list (include/uapi/linux/bpf.h).
const adjustMeta = 54

const (
	opCall  = 0x85 // BPF_JMP | BPF_CALL
	opMov64 = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
	insSize = 8
)

// patch returns lib with every helper call to bpf_xdp_adjust_meta in its
// embedded BPF objects replaced, and the file offsets it changed. Only
// the executable sections of embedded ELF files for the BPF machine are
// read, so that bytes of x86 code or data that happen to look like the
// instruction are left alone.
func patch(lib []byte) ([]byte, []int, error) {
	out := bytes.Clone(lib)
	var at []int
	for off := 0; ; {
		i := bytes.Index(lib[off:], []byte(elf.ELFMAG))
		if i < 0 {
			break
		}
		start := off + i
		off = start + 1
		if start == 0 {
			continue // the library itself
		}
		f, err := elf.NewFile(bytes.NewReader(lib[start:]))
		if err != nil || f.Machine != elf.EM_BPF {
			continue
		}
		for _, s := range f.Sections {
			if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_EXECINSTR == 0 {
				continue
			}
			base := start + int(s.Offset)
			if s.Size%insSize != 0 || base+int(s.Size) > len(lib) {
				return nil, nil, fmt.Errorf("BPF object at %#x: section %s is not whole instructions", start, s.Name)
			}
			for p := base; p < base+int(s.Size); p += insSize {
				if isMetaCall(lib[p : p+insSize]) {
					copy(out[p:], []byte{opMov64, 0, 0, 0, 0, 0, 0, 0})
					at = append(at, p)
				}
			}
		}
	}
	if len(at) == 0 {
		return nil, nil, errors.New("no call of bpf_xdp_adjust_meta in an embedded BPF object")
	}
	return out, at, nil
}

// isMetaCall: a call of helper 54 (source register 0: a helper, not a
// BPF-to-BPF call, whose source register is 1).
func isMetaCall(ins []byte) bool {
	return ins[0] == opCall && ins[1]>>4 == 0 && binary.LittleEndian.Uint32(ins[4:]) == adjustMeta
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("knotpatch: ")
	in := flag.String("in", "/usr/lib/x86_64-linux-gnu/libknot.so.13", "the packaged library")
	outPath := flag.String("out", "", "where to write the copy")
	flag.Parse()
	if *outPath == "" {
		log.Fatal("-out is required")
	}
	lib, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	out, at, err := patch(lib)
	if err != nil {
		log.Fatalf("%s: %v", *in, err)
	}
	if err := os.WriteFile(*outPath, out, 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %x -> %s %x: %d call(s) of bpf_xdp_adjust_meta replaced by r0 = 0 at %#x\n",
		*in, sha256.Sum256(lib), *outPath, sha256.Sum256(out), len(at), at)
}
