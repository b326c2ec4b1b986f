package frame

import "testing"

// answerLen is the size of the reply payload in the benchmarks, a typical
// single-record answer.
const answerLen = 100

func benchDecodeEncode(b *testing.B, query []byte) {
	out := make([]byte, 2048)
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeReplyEncode(query, out); err != nil {
			b.Fatal(err)
		}
	}
}

// decodeReplyEncode is the per-packet path: parse a query, turn the header
// round, and frame an answer that the caller wrote in place.
func decodeReplyEncode(query, out []byte) error {
	var h Header
	if _, err := Decode(query, &h); err != nil {
		return err
	}
	r := h.Reply()
	_, err := Encode(out, &r, answerLen)
	return err
}

func BenchmarkDecodeEncodeIPv4(b *testing.B) {
	benchDecodeEncode(b, testFrames()["ipv4"].bytes())
}

func BenchmarkDecodeEncodeIPv6(b *testing.B) {
	benchDecodeEncode(b, testFrames()["ipv6"].bytes())
}

func BenchmarkDecodeIPv4(b *testing.B) {
	q := testFrames()["ipv4"].bytes()
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(q, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeReject(b *testing.B) {
	q := testFrames()["ipv6"].bytes()
	q[14+6] = 0 // hop-by-hop
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(q, &h); err == nil {
			b.Fatal("accepted")
		}
	}
}

func TestNoAllocs(t *testing.T) {
	out := make([]byte, 2048)
	frames := testFrames()
	for _, name := range []string{"ipv4", "ipv4-options", "ipv6", "802.1q-ipv4", "802.1ad-ipv6"} {
		q := frames[name].bytes()
		if n := testing.AllocsPerRun(100, func() {
			if err := decodeReplyEncode(q, out); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs per Decode/Reply/Encode, want 0", name, n)
		}
	}
	bad := frames["ipv4"].bytes()[:30]
	var h Header
	if n := testing.AllocsPerRun(100, func() { _, _ = Decode(bad, &h) }); n != 0 {
		t.Errorf("%v allocs per rejected Decode, want 0", n)
	}
}
