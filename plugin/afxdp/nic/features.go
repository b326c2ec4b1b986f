package nic

import (
	"strconv"
	"strings"
)

// Feature is one bit of the kernel's enum netdev_xdp_act
// (include/uapi/linux/netdev.h).
type Feature uint64

const (
	Basic       Feature = 1 << iota // XDP_ABORTED, DROP, PASS and TX in the driver
	Redirect                        // XDP_REDIRECT from the driver: what AF_XDP needs in native mode
	NDOXmit                         // takes frames redirected to it (ndo_xdp_xmit)
	XSKZeroCopy                     // AF_XDP zero-copy: bind_mode auto binds zero-copy
	HWOffload                       // runs the program on the NIC
	RxSG                            // multi-buffer frames on receive
	NDOXmitSG                       // multi-buffer frames redirected to it
)

// All lists every feature this package names, in bit order.
var All = []Feature{Basic, Redirect, NDOXmit, XSKZeroCopy, HWOffload, RxSG, NDOXmitSG}

// names are the kernel's own (Documentation/netlink/specs/netdev.yaml), so
// that the log and the metric read as `ynl` and the kernel docs do.
var names = map[Feature]string{
	Basic: "basic", Redirect: "redirect", NDOXmit: "ndo-xmit", XSKZeroCopy: "xsk-zerocopy",
	HWOffload: "hw-offload", RxSG: "rx-sg", NDOXmitSG: "ndo-xmit-sg",
}

// String is the kernel's name of a single feature; a set of them, or a bit
// a later kernel added, reads as the names joined by commas, the unknown
// bits in hex.
func (f Feature) String() string {
	if n, ok := names[f]; ok {
		return n
	}
	var parts []string
	rest := f
	for _, x := range All {
		if f&x != 0 {
			parts = append(parts, names[x])
			rest &^= x
		}
	}
	if rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Features is what the kernel said of one interface.
type Features struct {
	// Known is false when the kernel has no "netdev" family (before
	// 6.3), or answered without the features attribute.
	Known bool
	XDP   Feature
	// ZCMaxSegs is the most buffers a zero-copy frame may span
	// (NETDEV_A_DEV_XDP_ZC_MAX_SEGS, 6.6); 0 when the kernel does not say.
	ZCMaxSegs uint32
}

// Has reports whether every bit of x is present; never when unknown.
func (f Features) Has(x Feature) bool { return f.Known && f.XDP&x == x }

// String is "unknown", "none" or the features' names joined by commas.
func (f Features) String() string {
	if !f.Known {
		return "unknown"
	}
	return f.XDP.String()
}
