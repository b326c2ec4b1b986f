package nic

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsg is one netlink message as the kernel writes it: header, then, for
// an answer, the generic netlink header and attributes.
func nlmsg(typ uint16, seq uint32, body []byte) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, body...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

func genl(attrs ...[]byte) []byte {
	b := []byte{cmdDevGet, familyVersion, 0, 0}
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func errmsg(errno unix.Errno) []byte {
	return binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
}

func u32(typ uint16, v uint32) []byte {
	return attr(nil, typ, binary.NativeEndian.AppendUint32(nil, v))
}
func u64(typ uint16, v uint64) []byte {
	return attr(nil, typ, binary.NativeEndian.AppendUint64(nil, v))
}

// TestDecode holds the reply reader and the device decoder to crafted
// answers: what 6.18 sends for a veth, older and newer kernels' variants,
// and broken ones.
func TestDecode(t *testing.T) {
	const veth = Basic | Redirect | NDOXmit | RxSG | NDOXmitSG
	for _, tc := range []struct {
		name    string
		dgram   []byte
		want    Features
		noReply bool   // only answers to other requests
		err     string // part of the error, or "" for none
	}{
		{name: "features, zero-copy segments and the ifindex",
			dgram: nlmsg(30, 7, genl(u32(attrIfindex, 2), u64(attrFeatures, uint64(veth)), u32(attrZCMaxSegs, 1))),
			want:  Features{Known: true, XDP: veth, ZCMaxSegs: 1}},
		{name: "a 6.3 kernel: no zero-copy segment limit",
			dgram: nlmsg(30, 7, genl(u32(attrIfindex, 1), u64(attrFeatures, uint64(Basic|Redirect|XSKZeroCopy)))),
			want:  Features{Known: true, XDP: Basic | Redirect | XSKZeroCopy}},
		{name: "no features at all is known and none",
			dgram: nlmsg(30, 7, genl(u32(attrIfindex, 1), u64(attrFeatures, 0))),
			want:  Features{Known: true}},
		{name: "features as a 4-byte integer",
			dgram: nlmsg(30, 7, genl(u32(attrFeatures, uint32(Basic)))),
			want:  Features{Known: true, XDP: Basic}},
		{name: "pad and later attributes are passed over, flags masked",
			dgram: nlmsg(30, 7, genl(attr(nil, 2, nil), u64(5, 3), attr(nil, 6|unix.NLA_F_NESTED, u32(1, 1)), u64(attrFeatures|unix.NLA_F_NET_BYTEORDER, uint64(HWOffload)))),
			want:  Features{Known: true, XDP: HWOffload}},
		{name: "an answer without the features attribute is unknown",
			dgram: nlmsg(30, 7, genl(u32(attrIfindex, 1)))},
		{name: "an earlier request's answer first",
			dgram: append(nlmsg(30, 6, genl(u64(attrFeatures, 1))), nlmsg(30, 7, genl(u64(attrFeatures, uint64(Redirect))))...),
			want:  Features{Known: true, XDP: Redirect}},
		{name: "only another request's answer", dgram: nlmsg(30, 6, genl(u64(attrFeatures, 1))), noReply: true},
		{name: "no such device", dgram: nlmsg(unix.NLMSG_ERROR, 7, errmsg(unix.ENODEV)), err: "no such device"},
		{name: "an acknowledgement is no answer", dgram: nlmsg(unix.NLMSG_ERROR, 7, errmsg(0)), err: "acknowledgement"},
		{name: "short error", dgram: nlmsg(unix.NLMSG_ERROR, 7, []byte{1}), err: "short error"},
		{name: "short netlink header", dgram: []byte{1, 2, 3}, err: "short header"},
		{name: "message longer than the datagram", dgram: nlmsg(30, 7, genl())[:unix.NLMSG_HDRLEN+2], err: "message length"},
		{name: "short generic header", dgram: nlmsg(30, 7, []byte{1}), err: "short generic header"},
		{name: "attribute longer than the message", dgram: nlmsg(30, 7, genl(u64(attrFeatures, 1)[:8])), err: "attribute length"},
		{name: "features of 2 bytes", dgram: nlmsg(30, 7, genl(attr(nil, attrFeatures, []byte{1, 0}))), err: "xdp-features: 2-byte"},
		{name: "segments of 3 bytes", dgram: nlmsg(30, 7, genl(attr(nil, attrZCMaxSegs, []byte{1, 0, 0}))), err: "xdp-zc-max-segs: 3-byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attrs, ok, err := reply(tc.dgram, 7)
			if err == nil && ok {
				var f Features
				f, err = decodeDev(attrs)
				if err == nil && f != tc.want {
					t.Errorf("decoded %+v (%s), want %+v (%s)", f, f, tc.want, tc.want)
				}
			}
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one with %q", err, tc.err)
			case tc.err == "" && ok == tc.noReply:
				t.Errorf("found an answer: %v, want %v", ok, !tc.noReply)
			}
		})
	}
}

// TestDecodeFamily: the controller's answer names the family id; the
// kernel's ENOENT for an unknown family is told apart by family().
func TestDecodeFamily(t *testing.T) {
	name := attr(nil, unix.CTRL_ATTR_FAMILY_NAME, []byte("netdev\x00"))
	id := attr(nil, unix.CTRL_ATTR_FAMILY_ID, binary.NativeEndian.AppendUint16(nil, 31))
	if got, err := decodeFamily(append(name, id...)); err != nil || got != 31 {
		t.Errorf("decodeFamily = %d, %v; want 31", got, err)
	}
	if _, err := decodeFamily(name); err == nil {
		t.Error("an answer without an id decoded")
	}
	if _, err := decodeFamily(attr(nil, unix.CTRL_ATTR_FAMILY_ID, []byte{1})); err == nil {
		t.Error("a 1-byte id decoded")
	}
	_, _, err := reply(nlmsg(unix.NLMSG_ERROR, 1, errmsg(unix.ENOENT)), 1)
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("an unknown family answers %v, want ENOENT (which Read takes for a kernel before 6.3)", err)
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		f    Features
		want string
	}{
		{Features{}, "unknown"},
		{Features{Known: true}, "none"},
		{Features{Known: true, XDP: Basic | Redirect | NDOXmit | XSKZeroCopy | HWOffload | RxSG | NDOXmitSG},
			"basic,redirect,ndo-xmit,xsk-zerocopy,hw-offload,rx-sg,ndo-xmit-sg"},
		{Features{Known: true, XDP: Redirect | 1<<9}, "redirect,0x200"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.f, got, tc.want)
		}
	}
	if (Features{XDP: Basic}).Has(Basic) {
		t.Error("an unknown set has a feature")
	}
	if !(Features{Known: true, XDP: Basic | Redirect}).Has(Basic | Redirect) {
		t.Error("Has(Basic|Redirect) false on a set holding both")
	}
	if len(All) != len(names) {
		t.Errorf("All has %d features, names %d", len(All), len(names))
	}
}

// TestFamily asks this kernel's controller (no privilege needed): "netdev"
// resolves, and a family no kernel has is errNoFamily, the answer a kernel
// before 6.3 gives for "netdev" and Read turns into "unknown".
func TestFamily(t *testing.T) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s.fd)
	if id, err := s.family(familyName); err != nil || id == 0 {
		t.Errorf("family %q = %d, %v", familyName, id, err)
	}
	if id, err := s.family("afxdp-none"); !errors.Is(err, errNoFamily) {
		t.Errorf("family afxdp-none = %d, %v; want errNoFamily", id, err)
	}
}
