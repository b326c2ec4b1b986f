package datapath

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The handover protocol, over the owner's socket (O the owner, N the
// successor). The XDP link never leaves the interface: O passes duplicates
// of its descriptors and N swaps its program in; queries that meet neither
// process's sockets go to the kernel listener, which both share (SIGUSR2)
// or both run (two pods with SO_REUSEPORT).
//
//	N→O hello{pid, upgrade|token}
//	O→N offer{mode} + [link fd, program fd]   or refuse{reason}
//	N   swaps its program into the link (compare-and-swap)
//	N→O swapped
//	O   drains and closes its sockets, lets go of the name
//	O→N released
//	N   claims the name, binds its sockets
//	N→O serving             (N redirects once its servers start)
//
// Both keep the connection until they exit. If N goes away after the
// offer, at any step, O sees the connection end and takes the interface
// back (Reclaim). If O goes away, the kernel closes its sockets and N goes
// on; the link lives while either holds it.

const (
	opHello    = "hello"
	opOffer    = "offer"
	opRefuse   = "refuse"
	opSwapped  = "swapped"
	opReleased = "released"
	opServing  = "serving"
)

const (
	helloWait   = 2 * time.Second  // a connection that says nothing is a probe
	stepWait    = 10 * time.Second // the other side's next step
	releaseWait = 15 * time.Second // O's drain is bounded by its grace, then close
)

// message is one step; JSON keeps the protocol readable across versions.
type message struct {
	Op      string `json:"op"`
	PID     int    `json:"pid,omitempty"`
	Upgrade bool   `json:"upgrade,omitempty"`
	Token   string `json:"token,omitempty"`
	Mode    string `json:"mode,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Takeover says when this process may take an interface over from another
// afxdp process rather than fail because it is owned.
type Takeover struct {
	// Upgrade: this process is a SIGUSR2 upgrade; it takes over from its
	// parent, and from nobody else.
	Upgrade bool
	// Token: a shared secret. An owner hands over to a process that
	// presents its own token, and only if it has one itself: a separately
	// started process (a Kubernetes rolling update with surge) takes
	// over only by an explicit opt-in on both sides.
	Token string
}

func (t Takeover) allowed() bool { return t.Upgrade || t.Token != "" }

func send(c *net.UnixConn, m message, files ...*os.File) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for k, f := range files {
			fds[k] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// receive reads one message and the descriptors sent with it, which the
// caller owns.
func receive(c *net.UnixConn) (message, []int, error) {
	b := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(b, oob)
	if err != nil {
		return message{}, nil, err
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return message{}, nil, err
		}
		for _, cm := range cmsgs {
			got, err := unix.ParseUnixRights(&cm)
			if err == nil {
				fds = append(fds, got...)
			}
		}
	}
	if n == 0 {
		closeFDs(fds)
		return message{}, nil, errors.New("connection closed")
	}
	var m message
	if err := json.Unmarshal(b[:n], &m); err != nil {
		closeFDs(fds)
		return message{}, nil, fmt.Errorf("bad handover message: %w", err)
	}
	return m, fds, nil
}

// expect reads the next message within d and checks it is op.
func expect(c *net.UnixConn, op string, d time.Duration) (message, []int, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	m, fds, err := receive(c)
	switch {
	case err != nil:
		return m, nil, err
	case m.Op == opRefuse:
		closeFDs(fds)
		return m, nil, fmt.Errorf("refused: %s", m.Reason)
	case m.Op != op:
		closeFDs(fds)
		return m, nil, fmt.Errorf("expected %q, got %q", op, m.Op)
	}
	return m, fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// entitled says why the owner (whose own setting is mine) must refuse the
// successor, or "" if it may take over.
func entitled(mine Takeover, hello message, peer *unix.Ucred) string {
	if peer.Uid != uint32(os.Geteuid()) {
		return fmt.Sprintf("uid %d is not the owner's", peer.Uid)
	}
	if hello.Upgrade && peer.Pid != 0 && parentOf(int(peer.Pid)) == os.Getpid() {
		return ""
	}
	if hello.Token != "" && mine.Token != "" && subtle.ConstantTimeCompare([]byte(hello.Token), []byte(mine.Token)) == 1 {
		return ""
	}
	switch {
	case hello.Upgrade:
		return "an upgrade takes over from its parent only"
	case mine.Token == "":
		return "this owner has no handover token"
	case hello.Token == "":
		return "no handover token"
	}
	return "handover tokens differ"
}

// parentOf reads pid's parent from /proc; 0 if it cannot.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// successor is N's side of a handover under way.
type successor struct {
	conn   *net.UnixConn
	owner  int // the owner's PID, 0 if in another PID namespace
	mode   string
	linkFD int
	progFD int
}

// requestHandover asks the owner of index for the interface. It fails,
// touching nothing, if this process is not entitled.
func requestHandover(name string, index int, t Takeover) (*successor, error) {
	c, err := net.DialUnix("unixpacket", nil, ownerAddr(index))
	if err != nil {
		return nil, fmt.Errorf("interface %s is served by another afxdp process (%s) that cannot hand it over: %w", name, ownerOf(index), err)
	}
	fail := func(err error) (*successor, error) {
		c.Close()
		return nil, err
	}
	cred, err := peerCred(c)
	if err != nil {
		return fail(fmt.Errorf("interface %s: reading its owner's credentials: %w", name, err))
	}
	upgrade := t.Upgrade && int(cred.Pid) == os.Getppid()
	if !upgrade && t.Token == "" {
		return fail(&ownedError{fmt.Sprintf("interface %s is already served by another afxdp process (pid %d), "+
			"not the one this upgrade replaces; one process owns an interface at a time", name, cred.Pid)})
	}
	hello := message{Op: opHello, PID: os.Getpid(), Upgrade: upgrade}
	if !upgrade {
		hello.Token = t.Token
	}
	if err := send(c, hello); err != nil {
		return fail(fmt.Errorf("interface %s: asking its owner (pid %d) for it: %w", name, cred.Pid, err))
	}
	m, fds, err := expect(c, opOffer, stepWait)
	if err == nil && len(fds) != 2 {
		closeFDs(fds)
		err = fmt.Errorf("offer came with %d descriptors, want 2", len(fds))
	}
	if err != nil {
		return fail(fmt.Errorf("interface %s: its owner (pid %d) did not hand it over: %w", name, cred.Pid, err))
	}
	return &successor{conn: c, owner: int(cred.Pid), mode: m.Mode, linkFD: fds[0], progFD: fds[1]}, nil
}

// abandon ends a handover from N's side; the owner takes the interface back.
func (s *successor) abandon() {
	if s != nil {
		s.conn.Close()
	}
}
