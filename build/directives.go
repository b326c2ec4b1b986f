package main

import "github.com/coredns/coredns/core/dnsserver"

// afxdp goes last in the directive order: its setup then runs last, so it
// sees any UDP writer decorator another plugin of the block set (shed) and
// chains it instead of being overwritten by it; and its one handler (there
// for the ready plugin) is the end of the chain, where it does what the end
// of the chain does.
func init() {
	dnsserver.Directives = append(dnsserver.Directives, "afxdp")
}
