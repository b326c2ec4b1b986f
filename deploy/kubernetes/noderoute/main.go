// Command noderoute steers a node's node-local DNS addresses (169.254.20.10,
// as NodeLocal DNSCache uses) to the afxdp pod of that node, which runs in
// its own network namespace with XDP on its own eth0, instead of a dummy
// interface in the host's namespace (where XDP would never see the
// queries: they are routed to a local address, not received on it). See
// deploy/kubernetes/node-local/ for the manifests. It is in the image
// beside coredns, without file capabilities: each container that runs it
// is root with exactly the capabilities its mode needs (root, because the
// registration directory is a root-owned hostPath). Three modes:
//
//	noderoute addr -addr 169.254.20.10
//
// an init container of each node-local DNS pod (CAP_NET_ADMIN in the pod's
// network namespace): adds each -addr to the pod's loopback (-dev), so that
// coredns, which starts after it, can bind it and the kernel listener
// answers what XDP passes.
//
//	noderoute register -dir /run/afxdp-nodelocal
//
// a native sidecar of the same pod (an init container with restartPolicy
// Always: it starts before coredns and stops after it; no capability):
// registers the pod - its UID, name and IPs from the downward API
// (POD_UID, POD_NAME, POD_IPS) - as a file in the hostPath directory -dir,
// rewrites it every -heartbeat, and removes it when it is stopped.
//
//	noderoute route -dir /run/afxdp-nodelocal -addr 169.254.20.10
//
// runs in the host's network namespace (hostNetwork, CAP_NET_ADMIN alone).
// Every -interval it reads the registrations, probes each pod's CoreDNS
// /ready (-ready-port) over the pod IP, and routes each -addr as a host
// route via the pod IP of the chosen pod (Choose: the ready pod registered
// last; with none ready, the current one while it is registered; else no
// route). The routes are replaced in place (one RTM_NEWROUTE with
// NLM_F_REPLACE each), carry protocol 175 (`ip route show proto 175`) and
// stay when noderoute stops: restarting or upgrading the router moves
// nothing. A route via the pod IP needs the host to reach pod IPs on a
// link: a bridge (the bridge plugin, flannel, kind) or a host route per pod
// to its veth (Calico, the AWS VPC CNI); the kernel refuses it otherwise,
// and noderoute logs that at every step. A neighbour entry belongs to the
// pod IP, so moving the route takes effect from the next packet.
//
// Keeping kube-proxy out. The node-local address is no Service IP, so no
// DNAT applies to it: pods reach it when kubelet's clusterDNS (or a pod's
// dnsConfig) names it, in every kube-proxy mode (iptables, IPVS,
// nftables) and with kube-proxy replacements that leave unknown addresses
// to the kernel's routing. To also take over the kube-dns ClusterIP (as
// node-cache does in iptables mode), give it as another -addr, and keep
// kube-proxy's DNAT off it as node-cache does: raw-table NOTRACK rules for
// UDP and TCP to that IP port 53 in PREROUTING and OUTPUT (untracked
// packets skip the nat table, so they are routed by this route instead of
// DNATed); noderoute does not install them. In IPVS mode that cannot work:
// every ClusterIP is a local address on kube-ipvs0, and the local table
// wins over any route, so point kubelet's clusterDNS at 169.254.20.10
// instead (as NodeLocal DNSCache's documentation says for IPVS). With
// Cilium, whose pod IPs are not on a link of the host, a Local Redirect
// Policy does this job instead of noderoute.
//
// Between a switch and the old pod's lameduck, the old pod's answers to
// queries it already had come from its veth with the node-local address
// as source, which strict reverse-path filtering on that host interface
// drops (the address is now routed to the other pod); loose mode (2)
// passes them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// addrList is a repeatable -addr flag (commas also separate).
type addrList []netip.Addr

func (l *addrList) String() string {
	var s []string
	for _, a := range *l {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func (l *addrList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		*l = append(*l, a.Unmap())
	}
	return nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: noderoute addr|register|route [flags]; noderoute MODE -h for the flags")
	os.Exit(2)
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch os.Args[1] {
	case "addr":
		err = addrMain(os.Args[2:])
	case "register":
		err = registerMain(ctx, os.Args[2:])
	case "route":
		err = routeMain(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		log.Printf("noderoute %s: %v", os.Args[1], err)
		os.Exit(1)
	}
}

// ---- register: in the DNS pod ----------------------------------------------

func addrMain(args []string) error {
	fs := flag.NewFlagSet("addr", flag.ExitOnError)
	var addrs addrList
	fs.Var(&addrs, "addr", "a node-local address to add to -dev (repeat or separate with commas)")
	dev := fs.String("dev", "lo", "the pod's interface to add the addresses to")
	fs.Parse(args)
	if len(addrs) == 0 {
		return errors.New("no -addr")
	}
	ifi, err := net.InterfaceByName(*dev)
	if err != nil {
		return err
	}
	nl, err := openNetlink()
	if err != nil {
		return err
	}
	defer nl.Close()
	for _, a := range addrs {
		if err := nl.AddAddr(ifi.Index, a); err != nil {
			return err
		}
	}
	log.Printf("added %s to %s", addrs.String(), *dev)
	return nil
}

func registerMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("register", flag.ExitOnError)
	dir := fs.String("dir", "/run/afxdp-nodelocal", "the registration directory (a hostPath)")
	beat := fs.Duration("heartbeat", 5*time.Second, "how often to rewrite the registration")
	fs.Parse(args)
	ips, err := parseIPs(os.Getenv("POD_IPS"))
	if err != nil {
		return fmt.Errorf("POD_IPS (status.podIPs from the downward API): %w", err)
	}
	reg := Registration{UID: os.Getenv("POD_UID"), Name: os.Getenv("POD_NAME"), IPs: ips}
	if !validUID(reg.UID) {
		return fmt.Errorf("POD_UID %q (metadata.uid from the downward API)", reg.UID)
	}
	return register(ctx, *dir, reg, *beat, time.Now)
}

// register writes the registration, rewrites it every beat and removes it
// when ctx ends. A sidecar restarted in the same pod keeps the pod's first
// registration time, so it does not become the newest pod.
func register(ctx context.Context, dir string, reg Registration, beat time.Duration, now func() time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	reg.Registered = now()
	if old, _, err := ReadAll(dir); err == nil {
		for _, o := range old {
			if o.UID == reg.UID {
				reg.Registered = o.Registered
			}
		}
	}
	reg.Heartbeat = now()
	if err := reg.Write(dir); err != nil {
		return err
	}
	log.Printf("registered pod %s (%s) with IPs %v in %s", reg.Name, reg.UID, reg.IPs, dir)
	t := time.NewTicker(beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := Remove(dir, reg.UID); err != nil {
				return err
			}
			log.Printf("stopping: registration removed")
			return nil
		case <-t.C:
			reg.Heartbeat = now()
			if err := reg.Write(dir); err != nil {
				log.Printf("heartbeat: %v", err) // the next one may work
			}
		}
	}
}

// ---- route: in the host's namespace -----------------------------------------

// Routes is what the router needs of the kernel's routing table.
type Routes interface {
	Routes() (map[netip.Addr]netip.Addr, error)
	ReplaceRoute(dst, gw netip.Addr) error
	DeleteRoute(dst netip.Addr) error
}

// Router moves the node-local addresses between registered pods.
type Router struct {
	Dir    string
	Addrs  []netip.Addr
	Policy Policy
	Probe  func(ip netip.Addr) bool // the pod's /ready answered 200
	Kernel Routes
	Now    func() time.Time
	Resync time.Duration // how often to read the kernel's routes again
	Logf   func(format string, args ...any)

	probes   map[string]*probeState
	current  string                    // UID of the pod routed to
	applied  map[netip.Addr]netip.Addr // the kernel's routes, as last read or set
	lastRead time.Time
	started  bool
}

// Step reads the registrations, probes the fresh ones, chooses and moves
// the routes; it returns the UID routed to.
func (r *Router) Step() (string, error) {
	now := r.Now()
	if r.probes == nil {
		r.probes = map[string]*probeState{}
	}
	if r.applied == nil || now.Sub(r.lastRead) >= r.Resync {
		got, err := r.Kernel.Routes()
		if err != nil {
			return r.current, err
		}
		r.applied, r.lastRead = got, now
	}
	regs, bad, err := ReadAll(r.Dir)
	if err != nil {
		return r.current, err
	}
	for _, e := range bad {
		r.Logf("skipping a registration: %v", e)
	}
	if !r.started {
		// Restarted: the pod the routes already point at is the current
		// one, so that no pod being unready at this moment removes them.
		r.started = true
	adopt:
		for _, reg := range regs {
			for _, a := range r.Addrs {
				if gw, ok := r.applied[a]; ok {
					if ip, ok := reg.IPFor(a); ok && ip == gw {
						r.current = reg.UID
						break adopt
					}
				}
			}
		}
	}

	var cands []Candidate
	var fresh []*Candidate
	seen := map[string]bool{}
	for _, reg := range regs {
		seen[reg.UID] = true
		if now.Sub(reg.Heartbeat) > r.Policy.RemoveAfter {
			if err := Remove(r.Dir, reg.UID); err == nil {
				r.Logf("removed the registration of pod %s (%s): no heartbeat since %s", reg.Name, reg.UID, reg.Heartbeat.Format(time.RFC3339))
			}
			continue
		}
		cands = append(cands, Candidate{Registration: reg})
	}
	for i := range cands {
		if cands[i].Fresh(now, r.Policy) && len(cands[i].IPs) > 0 {
			fresh = append(fresh, &cands[i])
		}
	}
	var wg sync.WaitGroup
	oks := make([]bool, len(fresh))
	for i, c := range fresh {
		wg.Add(1)
		go func() { defer wg.Done(); oks[i] = r.Probe(c.IPs[0]) }()
	}
	wg.Wait()
	for i, c := range fresh {
		s := r.probes[c.UID]
		if s == nil {
			s = &probeState{}
			r.probes[c.UID] = s
		}
		was := s.ready
		s.observe(oks[i], r.Policy)
		if s.ready != was {
			r.Logf("pod %s (%s): ready %v", c.Name, c.IPs[0], s.ready)
		}
		c.Ready = s.ready
	}
	for uid := range r.probes {
		if !seen[uid] {
			delete(r.probes, uid)
		}
	}

	target := Choose(cands, r.current, now, r.Policy)
	var tReg Registration
	for _, c := range cands {
		if c.UID == target {
			tReg = c.Registration
		}
	}
	if target != r.current {
		if target == "" {
			r.Logf("no ready pod registered: removing the routes of %s", addrString(r.Addrs))
		} else {
			r.Logf("routing %s to pod %s (%v)", addrString(r.Addrs), tReg.Name, tReg.IPs)
		}
		r.current = target
	}
	var errs []error
	for _, a := range r.Addrs {
		gw, want := netip.Addr{}, false
		if target != "" {
			gw, want = tReg.IPFor(a)
		}
		have, has := r.applied[a]
		switch {
		case want && (!has || have != gw):
			if err := r.Kernel.ReplaceRoute(a, gw); err != nil {
				errs = append(errs, err)
				continue
			}
			r.applied[a] = gw
		case !want && has:
			if err := r.Kernel.DeleteRoute(a); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(r.applied, a)
		}
	}
	return r.current, errors.Join(errs...)
}

func addrString(as []netip.Addr) string {
	l := addrList(as)
	return l.String()
}

// httpProbe asks a pod's CoreDNS ready plugin, as the kubelet's readiness
// probe does.
func httpProbe(port uint16, timeout time.Duration) func(netip.Addr) bool {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	return func(ip netip.Addr) bool {
		resp, err := c.Get("http://" + netip.AddrPortFrom(ip, port).String() + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

func routeMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("route", flag.ExitOnError)
	var addrs addrList
	fs.Var(&addrs, "addr", "a node-local address to route (repeat or separate with commas)")
	dir := fs.String("dir", "/run/afxdp-nodelocal", "the registration directory (a hostPath)")
	port := fs.Uint("ready-port", 8181, "the pods' ready plugin port")
	interval := fs.Duration("interval", time.Second, "how often to probe and decide")
	fs.Parse(args)
	if len(addrs) == 0 {
		return errors.New("no -addr")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	nl, err := openNetlink()
	if err != nil {
		return err
	}
	defer nl.Close()
	r := &Router{
		Dir: *dir, Addrs: addrs, Policy: DefaultPolicy,
		Probe:  httpProbe(uint16(*port), *interval*8/10),
		Kernel: nl, Now: time.Now, Resync: 10 * time.Second, Logf: log.Printf,
	}
	log.Printf("routing %s to the ready node-local DNS pod registered in %s", addrs.String(), *dir)
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		if _, err := r.Step(); err != nil {
			log.Printf("%v", err)
		}
		select {
		case <-ctx.Done():
			log.Printf("stopping; the routes stay as they are")
			return nil
		case <-t.C:
		}
	}
}
