package datapath

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// owner is this process's claim on one interface: a listening Unix socket
// in the abstract namespace, named after the interface's index. The kernel
// releases the name when the process dies, however it dies, and abstract
// names are per network namespace, as interface indexes are. A second
// process finds the name taken before it loads, attaches or binds anything,
// and asks the owner who it is (SO_PEERCRED). The same socket carries a
// handover to an entitled successor (handover.go).
type owner struct {
	ln    *net.UnixListener
	hello atomic.Pointer[helloFunc] // the Interface that owns the claim now
}

type helloFunc func(c *net.UnixConn, hello message, peer *unix.Ucred)

// ownedError: another process holds the interface.
type ownedError struct{ msg string }

func (e *ownedError) Error() string { return e.msg }

func isOwned(err error) bool {
	var o *ownedError
	return errors.As(err, &o)
}

func ownerAddr(index int) *net.UnixAddr {
	return &net.UnixAddr{Name: fmt.Sprintf("@afxdp/v1/ifindex/%d", index), Net: "unixpacket"}
}

// claimOwner claims the interface for this process. It must run in the
// interface's network namespace. onHello receives a would-be successor.
func claimOwner(name string, index int, onHello func(*net.UnixConn, message, *unix.Ucred)) (*owner, error) {
	ln, err := net.ListenUnix("unixpacket", ownerAddr(index))
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, &ownedError{fmt.Sprintf("interface %s is already served by another afxdp process (%s); "+
			"one process owns an interface at a time", name, ownerOf(index))}
	}
	if err != nil {
		return nil, fmt.Errorf("interface %s: claiming it: %w", name, err)
	}
	o := &owner{ln: ln}
	o.passTo(onHello)
	go o.answer()
	return o, nil
}

// claimOwnerWithin retries a claim while the previous owner lets go of the
// name: after a handover, or while a dead successor's socket is freed.
func claimOwnerWithin(name string, index int, d time.Duration, onHello func(*net.UnixConn, message, *unix.Ucred)) (*owner, error) {
	deadline := time.Now().Add(d)
	for {
		o, err := claimOwner(name, index, onHello)
		if err == nil || !isOwned(err) || time.Now().After(deadline) {
			return o, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// answer serves whoever connects: a probe that only reads the owner's PID
// closes at once; a would-be successor says hello first.
func (o *owner) answer() {
	for {
		c, err := o.ln.AcceptUnix()
		if err != nil {
			return
		}
		go o.serve(c)
	}
}

func (o *owner) serve(c *net.UnixConn) {
	c.SetReadDeadline(time.Now().Add(helloWait))
	m, _, err := receive(c)
	if err != nil || m.Op != opHello {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	cred, err := peerCred(c)
	if err != nil {
		send(c, message{Op: opRefuse, Reason: "reading your credentials: " + err.Error()})
		c.Close()
		return
	}
	(*o.hello.Load())(c, m, cred)
}

// passTo makes another Interface of this process the claim's holder: a
// reopen keeps the claim, and would-be successors meet the new one.
func (o *owner) passTo(onHello helloFunc) { o.hello.Store(&onHello) }

func (o *owner) release() {
	if o != nil {
		o.ln.Close()
	}
}

// ownerOf describes the process that holds index's claim.
func ownerOf(index int) string {
	c, err := net.DialUnix("unixpacket", nil, ownerAddr(index))
	if err != nil {
		// An afxdp from before handovers listens on a stream socket.
		c, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: ownerAddr(index).Name, Net: "unix"})
	}
	if err != nil {
		return "its PID could not be read: " + err.Error()
	}
	defer c.Close()
	cred, err := peerCred(c)
	switch {
	case err != nil:
		return "its PID could not be read: " + err.Error()
	case cred.Pid == 0:
		return "in another PID namespace"
	}
	return fmt.Sprintf("pid %d", cred.Pid)
}

// peerCred is the peer's credentials: for a connecting client, those of
// the process that listens.
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return nil, err
	}
	return cred, cerr
}
