package main

import "github.com/coredns/coredns/core/dnsserver"

// afxdp goes last in the directive order. It adds no handler to the plugin
// chain, so its place decides only when its setup runs: last, it sees any
// UDP writer decorator another plugin of the block set (shed) and chains it
// instead of being overwritten by it.
func init() {
	dnsserver.Directives = append(dnsserver.Directives, "afxdp")
}
