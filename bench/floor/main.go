// Command floor is the benchmark's floor: an XDP program that answers every
// UDP query to port 53 on an interface by echoing it back with XDP_TX
// (MACs, IP addresses and UDP ports swapped, QR set; xdp_floor.c), attached
// in native mode with a bpf_link until SIGINT or SIGTERM. No replying system
// can do less per answer on the benchmark's testbed (bench/bench.sh, system
// "floor").
//
// On a veth, XDP_TX frames reach the peer promptly only when the peer has an
// XDP program of its own (veth schedules the peer's NAPI only then; GRO
// gives it NAPI but not that kick): floor -pass attaches one that passes
// everything to the peer, through netlink rather than a bpf_link, so that it
// stays after floor exits. xdpgen takes it off for each of its runs (its
// own program is a bpf_link, which cannot replace one attached through
// netlink) and the benchmark puts it back after.
package main

// The generated Go and object are committed so that building needs no clang;
// make generate recompiles them (with clang-14, as bpf/) and make
// check-generate fails if they differ. The flags are bpf/gen.go's.
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -target bpfel floor xdp_floor.c

import (
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

func main() {
	iface := flag.String("i", "veth-s", "interface")
	pass := flag.Bool("pass", false, "attach the XDP_PASS program instead (native mode, through netlink) and exit")
	sink := flag.Bool("sink", false, "attach xdp_sink instead: drop IPv4 frames unanswered, and print how many at the end")
	flag.Parse()
	ifc, err := net.InterfaceByName(*iface)
	if err != nil {
		log.Fatal(err)
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		log.Fatal(err)
	}
	var objs floorObjects
	if err := loadFloorObjects(&objs, nil); err != nil {
		log.Fatalf("loading the floor program: %v", err)
	}
	defer objs.Close()
	if *pass {
		if err := attachNetlink(ifc.Index, objs.XdpPass); err != nil {
			log.Fatalf("attaching xdp_pass to %s: %v", *iface, err)
		}
		return
	}
	prog, what := objs.XdpFloor, "floor on %s (native XDP, XDP_TX)"
	if *sink {
		prog, what = objs.XdpSink, "sink on %s (native XDP, XDP_DROP)"
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
	if err != nil {
		log.Fatalf("attaching to %s in native mode: %v", *iface, err)
	}
	defer l.Close()
	log.Printf(what, *iface)
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
	if *sink {
		var n uint64
		if err := objs.Sunk.Lookup(uint32(0), &n); err != nil {
			log.Fatalf("reading the sink's count: %v", err)
		}
		fmt.Printf("sunk %d\n", n)
	}
}

// attachNetlink attaches prog to the interface in native mode as
// `ip link set dev IFACE xdpdrv ...` does: RTM_SETLINK with IFLA_XDP
// {IFLA_XDP_FD, IFLA_XDP_FLAGS}. The interface holds the program until it is
// replaced or removed (`ip link set dev IFACE xdp off`).
func attachNetlink(ifindex int, prog *ebpf.Program) error {
	ne := binary.NativeEndian
	attr := func(typ uint16, payload []byte) []byte {
		b := make([]byte, unix.SizeofRtAttr, unix.SizeofRtAttr+len(payload)+3)
		ne.PutUint16(b[0:], uint16(unix.SizeofRtAttr+len(payload)))
		ne.PutUint16(b[2:], typ)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	u32 := func(v uint32) []byte { return ne.AppendUint32(nil, v) }
	xdp := attr(unix.IFLA_XDP|unix.NLA_F_NESTED, append(
		attr(unix.IFLA_XDP_FD, u32(uint32(prog.FD()))),
		attr(unix.IFLA_XDP_FLAGS, u32(unix.XDP_FLAGS_DRV_MODE))...))
	ifi := make([]byte, unix.SizeofIfInfomsg) // family AF_UNSPEC, then the index at 4
	ne.PutUint32(ifi[4:], uint32(ifindex))
	body := append(ifi, xdp...)
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	ne.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	ne.PutUint16(msg[4:], unix.RTM_SETLINK)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(msg[8:], 1) // sequence number
	msg = append(msg, body...)

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	if n < unix.SizeofNlMsghdr+4 || ne.Uint16(buf[4:]) != unix.NLMSG_ERROR {
		return fmt.Errorf("netlink: unexpected answer (%d bytes)", n)
	}
	if e := int32(ne.Uint32(buf[unix.SizeofNlMsghdr:])); e != 0 {
		return fmt.Errorf("netlink: %w", unix.Errno(-e))
	}
	return nil
}
