// Command coredns is CoreDNS v1.15.0 with every stock plugin plus afxdp.
package main

import (
	_ "github.com/coredns/coredns/core/plugin" // every stock plugin
	"github.com/coredns/coredns/coremain"

	_ "github.com/afxdp/afxdp/plugin/afxdp"
)

func main() { coremain.Run() }
