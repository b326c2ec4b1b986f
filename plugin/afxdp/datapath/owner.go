package datapath

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// owner is this process's claim on one interface: a listening Unix socket
// in the abstract namespace, named after the interface's index. The kernel
// releases the name when the process dies, however it dies, and abstract
// names are per network namespace, as interface indexes are. A second
// process finds the name taken before it loads, attaches or binds anything,
// and asks the owner who it is (SO_PEERCRED).
type owner struct {
	ln *net.UnixListener
}

func ownerAddr(index int) *net.UnixAddr {
	return &net.UnixAddr{Name: fmt.Sprintf("@afxdp/v1/ifindex/%d", index), Net: "unix"}
}

// claimOwner claims the interface for this process. It must run in the
// interface's network namespace.
func claimOwner(name string, index int) (*owner, error) {
	ln, err := net.ListenUnix("unix", ownerAddr(index))
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("interface %s is already served by another afxdp process (%s); "+
			"one process owns an interface at a time", name, ownerOf(index))
	}
	if err != nil {
		return nil, fmt.Errorf("interface %s: claiming it: %w", name, err)
	}
	o := &owner{ln: ln}
	go o.answer()
	return o, nil
}

// answer lets a would-be second owner connect, which is how it learns the
// owner's PID; nothing is exchanged.
func (o *owner) answer() {
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func (o *owner) release() {
	if o != nil {
		o.ln.Close()
	}
}

// ownerOf describes the process that holds index's claim.
func ownerOf(index int) string {
	c, err := net.DialUnix("unix", nil, ownerAddr(index))
	if err != nil {
		return "its PID could not be read: " + err.Error()
	}
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return "its PID could not be read: " + err.Error()
	}
	var cred *unix.Ucred
	var cerr error
	raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	switch {
	case cerr != nil:
		return "its PID could not be read: " + cerr.Error()
	case cred.Pid == 0:
		return "in another PID namespace"
	}
	return fmt.Sprintf("pid %d", cred.Pid)
}
