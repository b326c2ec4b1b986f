package afxdp

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/coredns/caddy"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

const pluginName = "afxdp"

var log = clog.NewWithPlugin(pluginName)

func init() { datapath.Notice = log.Infof }

// parse reads
//
//	afxdp IFACE [IFACE...] {
//	    queues all|N [N...]
//	    xdp_mode auto|native|generic
//	    bind_mode auto|zerocopy|copy
//	    frames N
//	    frame_size 2048|4096
//	    ring_size N
//	    batch N
//	    workers N
//	    pending N
//	    hot auto|on|off|user|xdp
//	    hot_entries N
//	    handover TOKEN
//	    forwarding set|keep
//	}
//
// It returns the directive's line, where errors that concern the whole
// directive are reported.
func parse(c *caddy.Controller) (ifaces []string, s settings, line int, err error) {
	s = defaultSettings()
	opts := &s.opts
	for c.Next() {
		if len(ifaces) > 0 {
			return nil, s, line, c.Err("afxdp may appear once per server block; name several interfaces on one line")
		}
		line = c.Line()
		ifaces = c.RemainingArgs()
		if len(ifaces) == 0 {
			return nil, s, line, c.Err("needs at least one interface name, e.g. 'afxdp eth0'")
		}
		for k, name := range ifaces {
			if slices.Contains(ifaces[:k], name) {
				return nil, s, line, c.Errf("interface %s named twice", name)
			}
			if _, err := net.InterfaceByName(name); err != nil {
				return nil, s, line, c.Errf("unknown interface %q: %v", name, err)
			}
		}
		seen := map[string]int{} // option -> its line: a second one would silently win
		for c.NextBlock() {
			if at, ok := seen[c.Val()]; ok {
				return nil, s, line, c.Errf("option %s given twice, on lines %d and %d", c.Val(), at, c.Line())
			}
			seen[c.Val()] = c.Line()
			if err := parseOption(c, &s); err != nil {
				return nil, s, line, err
			}
		}
	}
	// Settings valid alone but not together: the directive's line.
	if err := opts.Validate(); err != nil {
		return nil, s, line, errAt(c, line, err)
	}
	return ifaces, s, line, nil
}

// errAt formats err as caddy's c.Errf does, for another line than the
// current token's.
func errAt(c *caddy.Controller, line int, err error) error {
	return fmt.Errorf("%s:%d - Error during parsing: %v", c.File(), line, err)
}

func parseOption(c *caddy.Controller, s *settings) error {
	o := &s.opts
	opt := c.Val()
	args := c.RemainingArgs()
	if len(args) == 0 {
		return c.Errf("option %s needs a value", opt)
	}
	var err error
	switch opt {
	case "hot":
		if err = oneArg(args); err == nil {
			s.hot, err = parseHotMode(args[0])
			s.hotLine = c.Line()
		}
	case "hot_entries":
		if err = intArg(args, &s.hotEntries); err == nil && s.hotEntries > maxHotEntries {
			err = fmt.Errorf("hot_entries %d: at most %d (each entry takes up to 1 KiB when filled)", s.hotEntries, maxHotEntries)
		}
	case "queues":
		o.Queues, err = parseQueues(args)
		slices.Sort(o.Queues) // settings compare equal whatever the order
	case "xdp_mode":
		err = oneArg(args)
		if err == nil {
			o.XDPMode, err = bpf.ParseMode(args[0])
		}
	case "bind_mode":
		err = oneArg(args)
		if err == nil {
			o.Socket.Bind, err = xsk.ParseBindMode(args[0])
		}
	case "frames":
		if err = intArg(args, &o.Socket.Frames); err == nil {
			err = xsk.CheckFrames(o.Socket.Frames)
		}
	case "frame_size":
		if err = intArg(args, &o.Socket.FrameSize); err == nil {
			err = xsk.CheckFrameSize(o.Socket.FrameSize)
		}
	case "ring_size":
		if err = intArg(args, &o.Socket.RingSize); err == nil {
			err = xsk.CheckRingSize(o.Socket.RingSize)
		}
	case "batch":
		err = intArg(args, &o.Batch)
	case "workers":
		err = intArg(args, &o.MaxWorkers)
	case "pending":
		err = intArg(args, &o.MaxPending)
	case "handover":
		if err = oneArg(args); err == nil {
			o.Takeover.Token, err = parseToken(args[0])
		}
	case "forwarding":
		if err = oneArg(args); err == nil {
			o.Forwarding, err = parseForwarding(args[0])
		}
	default:
		return c.Errf("unknown option %q", opt)
	}
	if err != nil {
		return c.Errf("%s: %v", opt, err)
	}
	return nil
}

// parseForwarding reads what may be done with loopback forwarding, which
// the XDP route check needs on.
func parseForwarding(v string) (datapath.Forwarding, error) {
	switch v {
	case "set":
		return datapath.ForwardingSet, nil
	case "keep":
		return datapath.ForwardingKeep, nil
	}
	return 0, fmt.Errorf("%q: want set or keep", v)
}

func parseQueues(args []string) ([]int, error) {
	if len(args) == 1 && args[0] == "all" {
		return nil, nil
	}
	var qs []int
	for _, a := range args {
		q, err := strconv.Atoi(a)
		if err != nil || q < 0 || q >= bpf.MaxQueues {
			return nil, fmt.Errorf("%q is not a queue number in [0, %d) or 'all'", a, bpf.MaxQueues)
		}
		if slices.Contains(qs, q) {
			return nil, fmt.Errorf("queue %d named twice", q)
		}
		qs = append(qs, q)
	}
	return qs, nil
}

func oneArg(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("takes one value, got %d", len(args))
	}
	return nil
}

func intArg(args []string, dst *int) error {
	if err := oneArg(args); err != nil {
		return err
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive number", args[0])
	}
	*dst = n
	return nil
}
