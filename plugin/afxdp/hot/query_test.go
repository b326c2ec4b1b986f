package hot

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
)

// edit returns a copy of b changed by f.
func edit(b []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(b)) }

func TestParseQueryReasons(t *testing.T) {
	plain := qspec{id: 0x1234, name: "www.Example.org.", qtype: dns.TypeA, rd: true}.wire()
	withOPT := qspec{id: 0x1234, name: "www.Example.org.", qtype: dns.TypeA, rd: true, opt: &opt{1232, ednsDO}}.wire()
	optAt := len(withOPT) - optLen // the OPT's owner octet
	// Labels of 63, 63, 63 and n octets: a name of 4+189+n+1 octets.
	name := func(n int) []byte {
		return qspec{labels: [][]byte{bytes.Repeat([]byte("a"), 63), bytes.Repeat([]byte("B"), 63), bytes.Repeat([]byte("c"), 63), bytes.Repeat([]byte("d"), n)}, qtype: dns.TypeA}.wire()
	}
	// splice replaces the OPT owner's root octet with owner.
	splice := func(owner ...byte) []byte {
		return append(append(append([]byte(nil), withOPT[:optAt]...), owner...), withOPT[optAt+1:]...)
	}
	tsig := edit(plain, func(b []byte) []byte {
		b[11] = 1
		b = append(b, 3, 'k', 'e', 'y', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0)
		return b
	})
	tests := []struct {
		name    string
		payload []byte
		want    Reason
	}{
		{"plain", plain, OK},
		{"with OPT", withOPT, OK},
		{"root name", qspec{qtype: dns.TypeNS}.wire(), OK},
		{"255-octet name", name(61), OK},
		{"short header", plain[:11], Malformed},
		{"empty", nil, Malformed},
		{"response", edit(plain, func(b []byte) []byte { b[2] |= 0x80; return b }), NotQuery},
		{"opcode notify", edit(plain, func(b []byte) []byte { b[2] |= 4 << 3; return b }), Opcode},
		{"opcode update", edit(plain, func(b []byte) []byte { b[2] |= 5 << 3; return b }), Opcode},
		{"qdcount 0", edit(plain, func(b []byte) []byte { b[5] = 0; return b }), Counts},
		{"qdcount 2", edit(plain, func(b []byte) []byte { b[5] = 2; return b }), Counts},
		{"ancount", edit(plain, func(b []byte) []byte { b[7] = 1; return b }), Counts},
		{"nscount", edit(plain, func(b []byte) []byte { b[8] = 1; return b }), Counts},
		{"arcount 2", edit(withOPT, func(b []byte) []byte { b[11] = 2; return b }), Counts},
		{"compressed name", edit(plain, func(b []byte) []byte { return append(b[:12], 0xc0, 12, 0, 1, 0, 1) }), Compressed},
		{"compressed tail", edit(plain, func(b []byte) []byte { return append(b[:16], 0xc0, 12, 0, 1, 0, 1) }), Compressed},
		{"label type 0x40", edit(plain, func(b []byte) []byte { b[12] = 0x43; return b }), Malformed},
		{"label type 0x80", edit(plain, func(b []byte) []byte { b[12] = 0x83; return b }), Malformed},
		{"label past the end", plain[:14], Malformed},
		{"no terminating root", plain[:12+1+3+1+7+1+3], Malformed},
		{"no qtype", plain[:len(plain)-4], Malformed},
		{"half a qclass", plain[:len(plain)-1], Malformed},
		{"256-octet name", name(62), NameTooLong},
		{"class CH", edit(plain, func(b []byte) []byte { b[len(b)-1] = 3; return b }), Class},
		{"class ANY", edit(plain, func(b []byte) []byte { b[len(b)-1] = 255; return b }), Class},
		{"trailing without OPT", append(bytes.Clone(plain), 0), Trailing},
		{"trailing after OPT", append(bytes.Clone(withOPT), 0), Trailing},
		{"additional is an A", edit(withOPT, func(b []byte) []byte { b[optAt+2] = 1; return b }), NotOPT},
		{"TSIG", tsig, TSIG},
		{"OPT owner not root", splice(1, 'x', 0), OPTOwner},
		{"OPT owner compressed", splice(0xc0, 12), OPTOwner},
		{"OPT version 1", edit(withOPT, func(b []byte) []byte { b[optAt+6] = 1; return b }), OPTVersion},
		{"OPT with an option", edit(withOPT, func(b []byte) []byte {
			b[len(b)-1] = 4
			return append(b, 0, 10, 0, 0) // an empty cookie option
		}), OPTOptions},
		{"OPT cut short", withOPT[:len(withOPT)-1], Malformed},
		{"OPT owner cut short", edit(withOPT, func(b []byte) []byte { return b[:optAt] }), Malformed},
	}
	for _, qt := range []uint16{dns.TypeANY, dns.TypeDS, dns.TypeAXFR, dns.TypeIXFR, dns.TypeRRSIG, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB} {
		tests = append(tests, struct {
			name    string
			payload []byte
			want    Reason
		}{"qtype " + dns.TypeToString[qt], qspec{name: "x.", qtype: qt}.wire(), QType})
	}
	for _, tt := range tests {
		var q Query
		if got := ParseQuery(tt.payload, &q); got != tt.want {
			t.Errorf("%s: ParseQuery = %v, want %v", tt.name, got, tt.want)
		}
		if tt.want == OK {
			// Everything ParseQuery accepts miekg/dns unpacks.
			if err := new(dns.Msg).Unpack(tt.payload); err != nil {
				t.Errorf("%s: accepted, but miekg/dns: %v", tt.name, err)
			}
		}
	}
}

// TestParseQueryFields: what the key and the render use.
func TestParseQueryFields(t *testing.T) {
	p := qspec{id: 0xbeef, name: "WwW.ExAmPle.ORG.", qtype: dns.TypeAAAA, rd: true, ad: true, cd: true, z: true,
		opt: &opt{300, 0x5a<<24 | ednsDO | 0x7f00 | 0xff}}.wire()
	var q Query
	if r := ParseQuery(p, &q); r != OK {
		t.Fatal(r)
	}
	want := Query{ID: 0xbeef, RD: true, CD: true, AD: true, DO: true, QType: dns.TypeAAAA, QClass: dns.ClassINET,
		NameLen: 17, QEnd: 12 + 17 + 4, HasOPT: true, UDPSize: 300, OPTTTL: 0x5a<<24 | ednsDO | 0x7f00 | 0xff, Len: len(p)}
	got := q
	got.hash, got.name, got.ok = 0, [maxName]byte{}, false
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if n := string(q.Name()); n != "\x03www\x07example\x03org\x00" {
		t.Errorf("Name() = %q", n)
	}
	if q.Size() != 512 {
		t.Errorf("Size() = %d for an OPT of 300", q.Size())
	}
	var q2 Query
	ParseQuery(qspec{name: "www.example.org.", qtype: dns.TypeAAAA}.wire(), &q2)
	if q2.hash != q.hash || q2.HasOPT || q2.DO || q2.Size() != 512 {
		t.Errorf("lowercase twin: hash %x vs %x, %+v", q2.hash, q.hash, q2)
	}
	// A failed parse leaves a Query that Answer refuses.
	if ParseQuery(p[:20], &q) == OK || q.ok {
		t.Error("short query parsed")
	}
}

func TestReasonStrings(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range append(Reasons(), OK) {
		s := r.String()
		if s == "" || s == "unknown" || seen[s] {
			t.Errorf("reason %d: label %q", r, s)
		}
		seen[s] = true
	}
	if Reason(200).String() != "unknown" {
		t.Error("out of range reason")
	}
}
