// Package nic reads what an interface's driver says it can do for XDP: the
// kernel's xdp_features bitmask (basic, redirect, ndo-xmit, xsk-zerocopy,
// hw-offload, rx-sg, ndo-xmit-sg) and the zero-copy segment limit, asked of
// the generic netlink family "netdev" (NETDEV_CMD_DEV_GET). The family came
// with Linux 6.3; on an older kernel Read answers Features{} (Known false),
// not an error, because the features only inform: the attach and bind
// modes are still found by trying (bpf's Attach, xsk's bind).
//
// It is a package of its own rather than part of route: route speaks
// rtnetlink about addresses and routes, this speaks generic netlink about
// the device, and only the glue asks it (to log and export the features
// once an interface is opened); the datapath never does.
//
// # Layers
//
// It knows nothing of BPF, rings, DNS, CoreDNS or Prometheus, and imports
// no other package of this module.
//
// # Where to start
//
// features.go (Feature, Features and their names), then netlink.go (Read:
// resolve the family, ask for one device, decode the reply).
package nic
