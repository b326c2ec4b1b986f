package datapath

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/bpf"
)

// tagged answers with a TXT record naming who answered.
func tagged(tag string) HandlerFunc {
	return func(r *Request) { replyTXT(r, tag) }
}

// answeredBy queries until one is answered (the kernel drops what the
// datapath does not take) and returns the answer's tag.
func answeredBy(t *testing.T, tb *testbed, within time.Duration) string {
	t.Helper()
	for end := time.Now().Add(within); time.Now().Before(end); {
		r, err := exchangeWait(t, tb, srv4, "who.example.", 200*time.Millisecond)
		if err == nil && len(r.Answer) == 1 {
			return r.Answer[0].(*dns.TXT).Txt[0]
		}
	}
	return ""
}

func serve4(t *testing.T, i *Interface) {
	t.Helper()
	if err := i.Serve(netip.AddrPortFrom(srv4, 53)); err != nil {
		t.Fatal(err)
	}
}

func awaitEvent(t *testing.T, i *Interface, want HandoverKind) HandoverEvent {
	t.Helper()
	for {
		select {
		case e := <-i.Handovers():
			if e.Kind == want {
				return e
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no handover event %d", want)
		}
	}
}

// TestHandoverByToken: an owner hands its interface to a process with the
// same token; the link stays attached (same ID) and the successor serves
// once it names its addresses. When the successor goes, the owner takes
// the interface back, still on the same link.
func TestHandoverByToken(t *testing.T) {
	tb := newTestbed(t)
	steps := recordSteps(t)
	opts := DefaultOptions()
	opts.Takeover.Token = "surge-1"
	old, err := openIn(tb, opts, tagged("old"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close(time.Second) })
	serve4(t, old)
	if got := answeredBy(t, tb, 2*time.Second); got != "old" {
		t.Fatalf("before the handover answered by %q", got)
	}
	id0, err := old.LinkID()
	if err != nil {
		t.Fatal(err)
	}

	succ, err := openIn(tb, opts, tagged("new"))
	if err != nil {
		t.Fatalf("taking over: %v", err)
	}
	if pid, ok := succ.TakenFrom(); !ok || pid != os.Getpid() {
		t.Errorf("TakenFrom = %d, %v", pid, ok)
	}
	if e := awaitEvent(t, old, HandedOver); e.PID != os.Getpid() || e.Err != nil {
		t.Errorf("handed over to %d (%v), want this process", e.PID, e.Err)
	}
	if id, _ := succ.LinkID(); id != id0 {
		t.Errorf("link %d after the handover, was %d: it was not kept", id, id0)
	}
	serve4(t, succ)
	if e := awaitEvent(t, succ, KernelWindow); e.Took <= 0 || e.Took > 5*time.Second {
		t.Errorf("kernel window %v", e.Took)
	}
	if got := answeredBy(t, tb, 2*time.Second); got != "new" {
		t.Fatalf("after the handover answered by %q", got)
	}
	// Both sides passed every step at which the end-to-end tests kill one.
	if got, ok := steps.await([]string{"new:offered", "old:offered", "new:swapped", "old:released", "new:serving"}, 5*time.Second); !ok {
		t.Errorf("the handover met the pause hook at %v, want every step", got)
	}

	// The successor goes away: the owner is told, and takes it back.
	succ.Close(time.Second)
	select {
	case <-old.Orphaned():
	case <-time.After(5 * time.Second):
		t.Fatal("the owner was not told that its successor is gone")
	}
	var back *Interface
	if err := tb.srv.Do(func() (err error) { back, err = Reclaim(old); return err }); err != nil {
		t.Fatalf("reclaim: %v", err)
	}
	t.Cleanup(func() { back.Close(time.Second) })
	old.Close(time.Second)
	if id, _ := back.LinkID(); id != id0 {
		t.Errorf("link %d after the reclaim, was %d", id, id0)
	}
	serve4(t, back)
	if got := answeredBy(t, tb, 2*time.Second); got != "old" {
		t.Fatalf("after the reclaim answered by %q", got)
	}
}

// TestHandoverRefused: no token, another token, or an upgrade that is not
// the owner's child: each is refused before it changes anything, and the
// owner keeps serving.
func TestHandoverRefused(t *testing.T) {
	tb := newTestbed(t)
	opts := DefaultOptions()
	opts.Takeover.Token = "mine"
	owner, err := openIn(tb, opts, tagged("owner"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Close(time.Second) })
	serve4(t, owner)
	cases := []struct {
		name string
		take Takeover
		want string
	}{
		{"no token", Takeover{}, fmt.Sprintf("already served by another afxdp process (pid %d)", os.Getpid())},
		{"other token", Takeover{Token: "yours"}, "refused: handover tokens differ"},
		{"upgrade of another process", Takeover{Upgrade: true}, "not the one this upgrade replaces"},
	}
	for _, c := range cases {
		o := DefaultOptions()
		o.Takeover = c.take
		_, err := openIn(tb, o, tagged("intruder"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if got := answeredBy(t, tb, 2*time.Second); got != "owner" {
		t.Errorf("after the refusals answered by %q", got)
	}
}

func TestEntitled(t *testing.T) {
	me := &unix.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Geteuid())}
	cases := []struct {
		mine  Takeover
		hello message
		peer  *unix.Ucred
		want  string
	}{
		{Takeover{Token: "a"}, message{Token: "a"}, me, ""},
		{Takeover{Token: "a"}, message{Token: "b"}, me, "handover tokens differ"},
		{Takeover{}, message{Token: "a"}, me, "this owner has no handover token"},
		{Takeover{Token: "a"}, message{}, me, "no handover token"},
		{Takeover{Token: "a"}, message{Token: "a"}, &unix.Ucred{Pid: me.Pid, Uid: me.Uid + 1}, "is not the owner's"},
		// This process is not its own child.
		{Takeover{}, message{Upgrade: true}, me, "an upgrade takes over from its parent only"},
	}
	for _, c := range cases {
		if got := entitled(c.mine, c.hello, c.peer); !strings.Contains(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("entitled(%+v, %+v) = %q, want %q", c.mine, c.hello, got, c.want)
		}
	}
	if got := parentOf(os.Getpid()); got != os.Getppid() {
		t.Errorf("parentOf(self) = %d, want %d", got, os.Getppid())
	}
}

// TestMessagesCarryDescriptors: a message and its descriptors arrive
// whole over the owner's socket type.
func TestMessagesCarryDescriptors(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "pair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	a, b := conn(fds[0]), conn(fds[1])
	defer a.Close()
	defer b.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := send(a, message{Op: opOffer, Mode: "native", PID: 7}, w); err != nil {
		t.Fatal(err)
	}
	m, got, err := expect(b, opOffer, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode != "native" || m.PID != 7 || len(got) != 1 {
		t.Fatalf("got %+v with %d descriptors", m, len(got))
	}
	// The descriptor is the pipe's write end: what goes in comes out of r.
	passed := os.NewFile(uintptr(got[0]), "passed")
	passed.Write([]byte("x"))
	passed.Close()
	buf := make([]byte, 1)
	if n, _ := r.Read(buf); n != 1 || buf[0] != 'x' {
		t.Error("the passed descriptor is not the pipe")
	}
	send(a, message{Op: opRefuse, Reason: "busy"})
	if _, _, err := expect(b, opReleased, time.Second); err == nil || !strings.Contains(err.Error(), "refused: busy") {
		t.Errorf("a refusal read as %v", err)
	}
}

// TestReopenKeepsLink: new settings in the same process keep the link and
// the claim; the new sockets serve.
func TestReopenKeepsLink(t *testing.T) {
	tb := newTestbed(t)
	old, err := openIn(tb, DefaultOptions(), tagged("before"))
	if err != nil {
		t.Fatal(err)
	}
	serve4(t, old)
	if got := answeredBy(t, tb, 2*time.Second); got != "before" {
		t.Fatalf("answered by %q", got)
	}
	id0, _ := old.LinkID()
	opts := DefaultOptions()
	opts.Batch = 16
	opts.XDPMode = old.opts.XDPMode
	var next *Interface
	err = tb.srv.Do(func() (err error) { next, err = Reopen(old, opts); return err })
	old.Close(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Close(time.Second) })
	if id, _ := next.LinkID(); id != id0 {
		t.Errorf("link %d after the reopen, was %d", id, id0)
	}
	serve4(t, next)
	if got := answeredBy(t, tb, 2*time.Second); got != "before" {
		t.Errorf("after the reopen answered by %q", got)
	}
	// The claim moved: a second process is still refused.
	if _, err := openIn(tb, DefaultOptions(), tagged("intruder")); err == nil || !strings.Contains(err.Error(), "already served") {
		t.Errorf("a second Open after the reopen: %v", err)
	}
	mode := DefaultOptions()
	mode.XDPMode = bpf.ModeGeneric
	if next.CanReopen(mode) {
		t.Error("a mode change claims it can reopen in place")
	}
}
