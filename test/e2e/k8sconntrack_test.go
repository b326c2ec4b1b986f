package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/netns"
)

// ctnetlink, as include/uapi/linux/netfilter/nfnetlink_conntrack.h numbers
// it: enough to list the IPv4 conntrack table and delete entries by their
// original tuple, which is what `conntrack -D -p udp --orig-dst SVC
// --dst-nat EP` does (kube-proxy's clean-up of a removed UDP endpoint),
// without the conntrack tool.
const (
	nfnlSubsysCTNetlink = 1
	ctMsgGet            = 1
	ctMsgDelete         = 2
	ctaTupleOrig        = 1
	ctaTupleReply       = 2
	ctaTupleIP          = 1
	ctaTupleProto       = 2
	ctaIPv4Src          = 1
	ctaIPv4Dst          = 2
	ctaProtoNum         = 1
	nlaFNested          = 0x8000
	nlaTypeMask         = 0x3fff
)

// conntrackDeleteUDP deletes, in ns, the UDP conntrack entries whose
// original destination is svc and whose reply comes from ep (the queries
// DNATed from the Service IP to that endpoint), and says how many it
// deleted.
func conntrackDeleteUDP(ns *netns.NS, svc, ep netip.Addr) (int, error) {
	deleted := 0
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(2e9))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		var victims [][]byte
		err = ctnlExchange(fd, ctMsgGet, unix.NLM_F_DUMP, nil, func(payload []byte) {
			attrs := nlAttrs(payload)
			orig, reply := attrs[ctaTupleOrig], attrs[ctaTupleReply]
			_, oDst, oProto := ctTuple(orig)
			rSrc, _, _ := ctTuple(reply)
			if oProto == unix.IPPROTO_UDP && oDst == svc && rSrc == ep {
				victims = append(victims, bytes.Clone(orig)) // orig is in the receive buffer
			}
		})
		if err != nil {
			return fmt.Errorf("listing conntrack entries: %w", err)
		}
		for _, orig := range victims {
			err := ctnlExchange(fd, ctMsgDelete, unix.NLM_F_ACK, nlAttr(ctaTupleOrig|nlaFNested, orig), nil)
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, unix.ENOENT): // expired meanwhile
			default:
				return fmt.Errorf("deleting a conntrack entry: %w", err)
			}
		}
		return nil
	})
	return deleted, err
}

// ctTuple reads an IPv4 tuple's addresses and protocol.
func ctTuple(tuple []byte) (src, dst netip.Addr, proto uint8) {
	t := nlAttrs(tuple)
	ip, pr := nlAttrs(t[ctaTupleIP]), nlAttrs(t[ctaTupleProto])
	if b := ip[ctaIPv4Src]; len(b) == 4 {
		src = netip.AddrFrom4([4]byte(b))
	}
	if b := ip[ctaIPv4Dst]; len(b) == 4 {
		dst = netip.AddrFrom4([4]byte(b))
	}
	if b := pr[ctaProtoNum]; len(b) == 1 {
		proto = b[0]
	}
	return src, dst, proto
}

// ctnlExchange sends one ctnetlink request for IPv4 and reads the answer
// to its end: each message's payload (after the nfgenmsg) goes to each,
// an error message ends it with that error (0: the ack).
func ctnlExchange(fd int, msg uint16, flags uint16, attrs []byte, each func([]byte)) error {
	req := make([]byte, unix.NLMSG_HDRLEN+4, unix.NLMSG_HDRLEN+4+len(attrs))
	req = append(req, attrs...)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], nfnlSubsysCTNetlink<<8|msg)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(req[8:], 1)
	req[16] = unix.AF_INET // nfgenmsg: family, version 0, res_id 0
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return errors.New("short netlink error")
				}
				if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
					return unix.Errno(-code)
				}
				return nil
			}
			if each != nil && len(m.Data) >= 4 {
				each(m.Data[4:])
			}
		}
	}
}

// nlAttrs splits netlink attributes by type (flags masked off).
func nlAttrs(b []byte) map[uint16][]byte {
	attrs := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			break
		}
		attrs[binary.NativeEndian.Uint16(b[2:])&nlaTypeMask] = b[4:l]
		l = (l + 3) &^ 3
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return attrs
}

// nlAttr is one netlink attribute, padded.
func nlAttr(typ uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(payload)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
