package netns

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// NS is a network namespace made by New.
type NS struct {
	Name string
	t    testing.TB
}

// New makes a namespace with a unique name, "afx-ROLE-PID-RANDOM", with
// its loopback up.
func New(t testing.TB, role string) *NS {
	t.Helper()
	sweepOnce.Do(sweep)
	var b [3]byte
	rand.Read(b[:])
	n := &NS{Name: fmt.Sprintf("afx-%s-%d-%s", role, os.Getpid(), hex.EncodeToString(b[:])), t: t}
	run(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() {
		// Deleting the namespace takes its links along.
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Errorf("removing namespace %s: %v: %s", n.Name, err, out)
		}
	})
	n.Run("ip", "link", "set", "lo", "up")
	return n
}

var sweepOnce sync.Once

// sweep removes the namespaces of test processes that are gone: t.Cleanup
// never runs in a test binary that was killed (a timeout), and the name
// says which process made each.
func sweep() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		f := strings.Split(e.Name(), "-")
		if len(f) != 4 || f[0] != "afx" {
			continue
		}
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// Run runs a command inside the namespace and fails the test if it fails.
func (n *NS) Run(args ...string) string {
	n.t.Helper()
	return run(n.t, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Command is a command to run inside the namespace.
func (n *NS) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Do runs fn on an OS thread that has entered the namespace. Sockets fn
// opens belong to the namespace for good; goroutines it starts do not run
// inside it.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// If restoring the original namespace fails, the thread stays
		// locked and dies with the goroutine instead of serving others.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering namespace %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leaving namespace %s: %w", n.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Veth joins a (interface aName) and b (bName) with a veth pair of the given
// number of queues, both ends up, with the offload flags of the test network
// (run/testnet.sh: frames look as they would off a wire, and veth accepts
// frames sent from AF_XDP/XDP).
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string, queues int) {
	t.Helper()
	script(t, nil, "testnet_veth", a.Name, aName, b.Name, bName, fmt.Sprint(queues))
}

// Addr adds addresses (CIDR form) to an interface as the test network does;
// IPv6 ones skip duplicate address detection so they are usable at once.
func (n *NS) Addr(dev string, cidrs ...string) {
	n.t.Helper()
	script(n.t, nil, "testnet_addr", append([]string{n.Name, dev}, cidrs...)...)
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
