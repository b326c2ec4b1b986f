// Command reflector answers every query redirected to it by flipping it into
// an empty response (QR set, no unpacking), through the datapath alone: it
// measures what the AF_XDP layer costs without the CoreDNS plugin chain.
package main

import (
	"flag"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

func main() {
	iface := flag.String("i", "veth-s", "interface")
	addrs := flag.String("a", "198.18.0.1,fd00::1", "served addresses")
	flag.Parse()
	var buf [512]byte
	h := datapath.HandlerFunc(func(r *datapath.Request) {
		n := copy(buf[:], r.Payload)
		buf[2] |= 0x80
		r.Reply(buf[:n])
	})
	dp, err := datapath.Open(*iface, datapath.DefaultOptions(), h)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range splitComma(*addrs) {
		if err := dp.Serve(netip.AddrPortFrom(netip.MustParseAddr(a), 53)); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("serving %s, XDP %s", *iface, dp.XDPMode())
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
	dp.Close(time.Second)
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
