package main

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// The client side's XDP program: UDP frames from the server's port (IPv4
// without options' length limits, not fragments; IPv6 with UDP as the first
// next header) go to the AF_XDP socket of their RX queue through an XSKMAP;
// everything else, and frames of a queue without a socket, pass to the
// kernel, so ARP and neighbour discovery keep working. It uses no helper
// but bpf_redirect_map (this kernel refuses bpf_xdp_adjust_meta).
//
// It does not look at the destination address: on the generator's
// interface, every DNS reply is the generator's.

const (
	xdpPass = 2
	maxQ    = 64 // XSKMAP entries: RX queues
)

// htons16 is v as a 16-bit load from packet memory reads it on a
// little-endian machine.
func htons16(v uint16) int32 { return int32(v<<8 | v>>8) }

func replyProgram(xsks asm.FDer, port uint16) (asm.Instructions, error) {
	load := asm.LoadMapPtr(asm.R1, 0)
	if err := load.AssociateMap(xsks); err != nil {
		return nil, err
	}
	p := htons16(port)
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, ethLen),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JEq.Imm(asm.R5, htons16(0x0800), "v4"),
		asm.JEq.Imm(asm.R5, htons16(0x86dd), "v6"),
		asm.Ja.Label("pass"),

		// IPv4 without options (the server's kernel sends none).
		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("v4"),
		asm.Add.Imm(asm.R4, ethLen+ip4Len+udpLen),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, ethLen, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, "pass"),
		asm.LoadMem(asm.R5, asm.R2, ethLen+9, asm.Byte),
		asm.JNE.Imm(asm.R5, 17, "pass"),
		asm.LoadMem(asm.R5, asm.R2, ethLen+6, asm.Half), // MF and offset: not a fragment
		asm.And.Imm(asm.R5, htons16(0x3fff)),
		asm.JNE.Imm(asm.R5, 0, "pass"),
		asm.LoadMem(asm.R5, asm.R2, ethLen+ip4Len, asm.Half),
		asm.JNE.Imm(asm.R5, p, "pass"),
		asm.Ja.Label("redirect"),

		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("v6"),
		asm.Add.Imm(asm.R4, ethLen+ip6Len+udpLen),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, ethLen+6, asm.Byte),
		asm.JNE.Imm(asm.R5, 17, "pass"),
		asm.LoadMem(asm.R5, asm.R2, ethLen+ip6Len, asm.Half),
		asm.JNE.Imm(asm.R5, p, "pass"),

		// bpf_redirect_map(xsks, rx_queue_index, XDP_PASS): the flags'
		// low bits are the verdict when the queue has no socket.
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word).WithSymbol("redirect"),
		load,
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),

		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}, nil
}

// redirector is the program attached to the generator's interface.
type redirector struct {
	xsks *ebpf.Map
	prog *ebpf.Program
	link link.Link
	mode string
}

// newRedirector loads the program for replies from port; attach puts it
// on an interface. Both must run in the interface's network namespace.
func newRedirector(port uint16) (*redirector, error) {
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: maxQ})
	if err != nil {
		return nil, fmt.Errorf("creating XSKMAP: %w", err)
	}
	ins, err := replyProgram(xsks, port)
	if err != nil {
		xsks.Close()
		return nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xdpgen_replies", Type: ebpf.XDP, Instructions: ins, License: "GPL"})
	if err != nil {
		xsks.Close()
		return nil, fmt.Errorf("loading the reply redirect program: %w", err)
	}
	return &redirector{xsks: xsks, prog: prog}, nil
}

// add puts the socket fd in the queue's XSKMAP slot.
func (r *redirector) add(queue, fd int) error {
	if queue >= maxQ {
		return fmt.Errorf("queue %d: at most %d", queue, maxQ-1)
	}
	if err := r.xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("adding the socket of queue %d to the XSKMAP: %w", queue, err)
	}
	return nil
}

// attach tries driver (native) mode, then generic mode.
func (r *redirector) attach(ifindex int) error {
	var errs []error
	for _, m := range []struct {
		name  string
		flags link.XDPAttachFlags
	}{{"driver", link.XDPDriverMode}, {"generic", link.XDPGenericMode}} {
		l, err := link.AttachXDP(link.XDPOptions{Program: r.prog, Interface: ifindex, Flags: m.flags})
		if err == nil {
			r.link, r.mode = l, m.name
			return nil
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", m.name, err))
	}
	return fmt.Errorf("attaching XDP to ifindex %d: %w", ifindex, errors.Join(errs...))
}

func (r *redirector) Close() {
	if r.link != nil {
		r.link.Close()
	}
	r.prog.Close()
	r.xsks.Close()
}
