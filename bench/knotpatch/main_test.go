package main

import (
	"bytes"
	"debug/elf"
	"os"
	"testing"
)

// fakeLib is a "library" that embeds a real BPF object (the floor's)
// whose first program instruction was made a call of bpf_xdp_adjust_meta,
// between bytes that look like that call outside any BPF object.
func fakeLib(t *testing.T) (lib []byte, callAt int) {
	t.Helper()
	obj, err := os.ReadFile("../floor/floor_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	var prog *elf.Section
	for _, s := range f.Sections {
		if s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_EXECINSTR != 0 && s.Size > 0 {
			prog = s
			break
		}
	}
	if prog == nil {
		t.Fatal("the floor object has no program section")
	}
	call := []byte{opCall, 0, 0, 0, adjustMeta, 0, 0, 0}
	obj = bytes.Clone(obj)
	copy(obj[prog.Offset:], call)
	head := append([]byte(elf.ELFMAG+"host library "), call...)
	tail := append([]byte("data "), call...)
	lib = append(append(append([]byte{}, head...), obj...), tail...)
	return lib, len(head) + int(prog.Offset)
}

func TestPatchReplacesOnlyTheCallInBPF(t *testing.T) {
	lib, callAt := fakeLib(t)
	out, at, err := patch(lib)
	if err != nil {
		t.Fatal(err)
	}
	if len(at) != 1 || at[0] != callAt {
		t.Fatalf("patched at %#x, want only %#x", at, callAt)
	}
	want := bytes.Clone(lib)
	copy(want[callAt:], []byte{opMov64, 0, 0, 0, 0, 0, 0, 0})
	if !bytes.Equal(out, want) {
		t.Fatal("bytes other than the call's instruction changed")
	}
	if bytes.Equal(lib[callAt:callAt+8], out[callAt:callAt+8]) {
		t.Fatal("the input was patched in place")
	}
}

func TestPatchWithoutCallFails(t *testing.T) {
	lib, callAt := fakeLib(t)
	copy(lib[callAt:], []byte{opMov64, 0, 0, 0, 0, 0, 0, 0})
	if _, _, err := patch(lib); err == nil {
		t.Fatal("a library without the call was patched")
	}
}

func TestIsMetaCall(t *testing.T) {
	for _, c := range []struct {
		ins  []byte
		want bool
	}{
		{[]byte{0x85, 0, 0, 0, 54, 0, 0, 0}, true},
		{[]byte{0x85, 0x10, 0, 0, 54, 0, 0, 0}, false}, // a BPF-to-BPF call 54 instructions on
		{[]byte{0x85, 0, 0, 0, 44, 0, 0, 0}, false},    // bpf_xdp_adjust_head
		{[]byte{0xb7, 0, 0, 0, 54, 0, 0, 0}, false},
	} {
		if got := isMetaCall(c.ins); got != c.want {
			t.Errorf("%x: %v, want %v", c.ins, got, c.want)
		}
	}
}
