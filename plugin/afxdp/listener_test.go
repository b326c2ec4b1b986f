package afxdp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

func hostKey(addr string, port uint16) listenKey {
	return listenKey{scope: scopeHost, host: netip.MustParseAddr(addr), port: port}
}

func TestKeyOf(t *testing.T) {
	tests := []struct {
		in   string
		want listenKey
	}{
		{"dns://:53", listenKey{scope: scopeAll, port: 53}},
		{"dns://[::]:53", listenKey{scope: scopeAll, port: 53}},
		// "bind 0::0" reaches the server address as written.
		{"dns://[0::0]:53", listenKey{scope: scopeAll, port: 53}},
		{"dns://[0:0:0:0:0:0:0:0]:53", listenKey{scope: scopeAll, port: 53}},
		{"dns://0.0.0.0:53", listenKey{scope: scopeV4, port: 53}},
		{"dns://[::ffff:0.0.0.0]:53", listenKey{scope: scopeV4, port: 53}},
		{"dns://198.18.0.1:53", hostKey("198.18.0.1", 53)},
		{"dns://[fd00::1]:5353", hostKey("fd00::1", 5353)},
		{"dns://[::ffff:198.18.0.1]:53", hostKey("198.18.0.1", 53)},
		{"dns://[fe80::1%lo]:53", hostKey("fe80::1", 53)},
		{"dns://[::1]:1053", hostKey("::1", 1053)},
		{"dns://:0", listenKey{scope: scopeAll, port: 0}},
		{"dns://:65535", listenKey{scope: scopeAll, port: 65535}},
		// keysOf passes host:port without the scheme.
		{"127.0.0.1:53", hostKey("127.0.0.1", 53)},
		{":8053", listenKey{scope: scopeAll, port: 8053}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := keyOf(tc.in)
			if err != nil {
				t.Fatalf("keyOf(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("keyOf(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			if got.scope == scopeHost && (got.host.Is4In6() || got.host.Zone() != "") {
				t.Errorf("keyOf(%q) host %v is mapped or zoned", tc.in, got.host)
			}
		})
	}
}

func TestKeyOfErrors(t *testing.T) {
	tests := []struct {
		in    string
		cause string
	}{
		{"dns://nonsense", `listener "nonsense": address nonsense: missing port in address`},
		{"dns://host.example:53", `listener "host.example:53": host is not an address`},
		{"dns://198.18.0.1:99999", `listener "198.18.0.1:99999": bad port`},
		{"dns://:65536", `listener ":65536": bad port`},
		{"dns://:-1", `listener ":-1": bad port`},
		{"dns://:domain", `listener ":domain": bad port`},
		{"dns://[fd00::1]:", `listener "[fd00::1]:": bad port`},
		{"dns://fd00::1:53", "too many colons"},
		{"tls://198.18.0.1:853", "too many colons"}, // only dns:// is stripped
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			k, err := keyOf(tc.in)
			if err == nil {
				t.Fatalf("keyOf(%q) = %v, want an error", tc.in, k)
			}
			if !strings.Contains(err.Error(), tc.cause) {
				t.Errorf("keyOf(%q) error %q does not contain %q", tc.in, err, tc.cause)
			}
			if k != (listenKey{}) {
				t.Errorf("keyOf(%q) returned %#v with its error", tc.in, k)
			}
		})
	}
}

func TestKeysOf(t *testing.T) {
	cfg := &dnsserver.Config{ListenHosts: []string{"", "::", "0.0.0.0", "198.18.0.1", "fd00::1"}, Port: "5300"}
	got, err := keysOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []listenKey{
		{scope: scopeAll, port: 5300},
		{scope: scopeAll, port: 5300},
		{scope: scopeV4, port: 5300},
		hostKey("198.18.0.1", 5300),
		hostKey("fd00::1", 5300),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keysOf = %v, want %v", got, want)
	}

	if keys, err := keysOf(&dnsserver.Config{ListenHosts: []string{"198.18.0.1", "localhost"}, Port: "53"}); err == nil ||
		!strings.Contains(err.Error(), "host is not an address") {
		t.Errorf("keysOf with a host name = %v, %v; want a 'host is not an address' error", keys, err)
	}
}

func TestKeyString(t *testing.T) {
	tests := []struct {
		k    listenKey
		want string
	}{
		{listenKey{scope: scopeAll, port: 53}, ":53"},
		{listenKey{scope: scopeV4, port: 5353}, "0.0.0.0:5353"},
		{hostKey("198.18.0.1", 53), "198.18.0.1:53"},
		{hostKey("fd00::1", 5353), "[fd00::1]:5353"},
	}
	for _, tc := range tests {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.k, got, tc.want)
		}
		// String is what a listener is logged as; it reads back as the key.
		if back, err := keyOf("dns://" + tc.k.String()); err != nil || back != tc.k {
			t.Errorf("keyOf(%q) = %#v, %v; want %#v", "dns://"+tc.k.String(), back, err, tc.k)
		}
	}
}

func TestTableLookup(t *testing.T) {
	var (
		v4Host  = &listener{key: hostKey("198.18.0.1", 53)}
		v6Host  = &listener{key: hostKey("fd00::1", 53)}
		all53   = &listener{key: listenKey{scope: scopeAll, port: 53}}
		v4Any53 = &listener{key: listenKey{scope: scopeV4, port: 53}}
		all5353 = &listener{key: listenKey{scope: scopeAll, port: 5353}}
	)
	mk := func(ls ...*listener) *table {
		m := map[listenKey]*listener{}
		for _, l := range ls {
			m[l.key] = l
		}
		return newTable(m)
	}
	addr := netip.MustParseAddr
	tests := []struct {
		name string
		t    *table
		dst  string
		port uint16
		want *listener
	}{
		{"exact host beats wildcard", mk(v4Host, all53), "198.18.0.1", 53, v4Host},
		{"exact host beats v4 wildcard", mk(v4Host, v4Any53, all53), "198.18.0.1", 53, v4Host},
		{"exact v6 host beats wildcard", mk(v6Host, all53), "fd00::1", 53, v6Host},
		{"other v4 address falls to wildcard", mk(v4Host, all53), "198.18.0.2", 53, all53},
		{"other v6 address falls to wildcard", mk(v6Host, all53), "fd00::2", 53, all53},
		{"v4 wildcard matches v4", mk(v4Any53), "198.18.0.7", 53, v4Any53},
		{"v4 wildcard does not match v6", mk(v4Any53), "fd00::1", 53, nil},
		{"v4 wildcard beats all for v4", mk(v4Any53, all53), "198.18.0.7", 53, v4Any53},
		{"all, not v4 wildcard, for v6", mk(v4Any53, all53), "fd00::7", 53, all53},
		{":53 matches v4", mk(all53), "198.18.0.9", 53, all53},
		{":53 matches v6", mk(all53), "fd00::9", 53, all53},
		{"wrong port, wildcard", mk(all53), "198.18.0.1", 5354, nil},
		{"wrong port, host", mk(v4Host), "198.18.0.1", 54, nil},
		{"wrong port, v4 wildcard", mk(v4Any53), "198.18.0.1", 5353, nil},
		{"port picks listener", mk(all53, all5353), "fd00::1", 5353, all5353},
		{"v4 host is not the v6 host", mk(v4Host), "fd00::1", 53, nil},
		{"host only, other address", mk(v4Host), "198.18.0.2", 53, nil},
		{"empty table", mk(), "198.18.0.1", 53, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.t.lookup(addr(tc.dst), tc.port)
			if got != tc.want {
				var gk, wk any
				if got != nil {
					gk = got.key
				}
				if tc.want != nil {
					wk = tc.want.key
				}
				t.Errorf("lookup(%s, %d) = %v, want %v", tc.dst, tc.port, gk, wk)
			}
		})
	}
}
