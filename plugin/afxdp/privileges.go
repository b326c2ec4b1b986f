package afxdp

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// Linux capability numbers (linux/capability.h).
const (
	capNetBind  = 10
	capNetAdmin = 12
	capNetRaw   = 13
	capIPCLock  = 14
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// checkPrivileges says which capability is missing before anything is
// opened, so that the Corefile line gets a clear error instead of an EPERM
// from deep inside the kernel. It also probes for AF_XDP support.
func checkPrivileges(opts datapath.Options, queues int) error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	var missing []string
	if !has(capNetAdmin) {
		missing = append(missing, "CAP_NET_ADMIN (attach the XDP program)")
	}
	if !has(capNetRaw) {
		missing = append(missing, "CAP_NET_RAW (open AF_XDP sockets)")
	}
	if !has(capBPF) && !has(capSysAdmin) {
		missing = append(missing, "CAP_BPF (load the XDP program and its maps)")
	}
	// Without CAP_PERFMON the verifier refuses variable-offset arithmetic
	// on packet pointers (Spectre v1 hardening), which parsing needs.
	if !has(capPerfmon) && !has(capSysAdmin) {
		missing = append(missing, "CAP_PERFMON (the verifier accepts packet parsing only from it)")
	}
	if !has(capIPCLock) {
		// Without CAP_IPC_LOCK every UMEM counts against RLIMIT_MEMLOCK.
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err == nil && lim.Cur != unix.RLIM_INFINITY {
			need := uint64(opts.Socket.UMEMBytes()) * uint64(queues)
			if lim.Cur < need {
				missing = append(missing, fmt.Sprintf("CAP_IPC_LOCK (or RLIMIT_MEMLOCK >= %d KiB for %d queue(s), now %d KiB) to lock the UMEM",
					need>>10, queues, lim.Cur>>10))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing privileges: %s", strings.Join(missing, ", "))
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("kernel without AF_XDP sockets (CONFIG_XDP_SOCKETS): %w", err)
	}
	unix.Close(fd)
	return nil
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapEff in /proc/self/status")
}

// checkBindPort says whether binding the served port needs a capability
// the process lacks: CAP_NET_BIND_SERVICE, only for a port below
// net.ipv4.ip_unprivileged_port_start (this network namespace's; 1024 by
// default, 0 in some containers). The kernel listener afxdp hands
// queries to binds it, and would otherwise fail with a bare EACCES.
func checkBindPort(port int) error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	start, err := unprivilegedPortStart()
	if err != nil {
		return nil // an old kernel without the setting: the bind says it
	}
	return bindPortError(port, start, eff&(1<<capNetBind) != 0)
}

func bindPortError(port, start int, has bool) error {
	if port >= start || has {
		return nil
	}
	return fmt.Errorf("missing privileges: CAP_NET_BIND_SERVICE (bind port %d, below net.ipv4.ip_unprivileged_port_start = %d)", port, start)
}

func unprivilegedPortStart() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
