package nic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// From include/uapi/linux/netdev.h: golang.org/x/sys has the generic
// netlink controller's numbers but not this family's.
const (
	familyName    = "netdev"
	familyVersion = 1
	cmdDevGet     = 1 // NETDEV_CMD_DEV_GET
	attrIfindex   = 1 // NETDEV_A_DEV_IFINDEX
	attrFeatures  = 3 // NETDEV_A_DEV_XDP_FEATURES (u64)
	attrZCMaxSegs = 4 // NETDEV_A_DEV_XDP_ZC_MAX_SEGS (u32)

	genlHdrLen  = 4      // struct genlmsghdr
	nlaTypeMask = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// errNoFamily is the kernel saying it has no family of that name: for
// "netdev", a kernel before 6.3, whose features nobody can read.
var errNoFamily = errors.New("no such generic netlink family")

// Read asks the kernel, in the calling thread's network namespace, what
// the driver of interface ifindex can do for XDP. A kernel without the
// family answers Features{} (unknown) and no error; an interface that does
// not exist is an error.
func Read(ifindex int) (Features, error) {
	s, err := open()
	if err != nil {
		return Features{}, err
	}
	defer unix.Close(s.fd)
	id, err := s.family(familyName)
	if errors.Is(err, errNoFamily) {
		return Features{}, nil
	}
	if err != nil {
		return Features{}, err
	}
	ifx := binary.NativeEndian.AppendUint32(nil, uint32(ifindex))
	body, err := s.request(id, cmdDevGet, familyVersion, attr(nil, attrIfindex, ifx))
	if err != nil {
		return Features{}, fmt.Errorf("reading XDP features of ifindex %d: %w", ifindex, err)
	}
	return decodeDev(body)
}

type sock struct {
	fd  int
	seq uint32
	buf []byte
}

// open opens a generic netlink socket in the calling thread's namespace.
// It needs no privilege: reading a device is open to every user.
func open() (*sock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("opening generic netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding generic netlink socket: %w", err)
	}
	// The caller is opening an interface: a kernel that never answers must
	// not hold it up for long.
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("generic netlink socket timeout: %w", err)
	}
	return &sock{fd: fd, buf: make([]byte, 1<<13)}, nil
}

// family resolves a generic netlink family's id by name.
func (s *sock) family(name string) (uint16, error) {
	body, err := s.request(unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY, 1,
		attr(nil, unix.CTRL_ATTR_FAMILY_NAME, append([]byte(name), 0)))
	if errors.Is(err, unix.ENOENT) {
		return 0, errNoFamily
	}
	if err != nil {
		return 0, fmt.Errorf("resolving generic netlink family %q: %w", name, err)
	}
	return decodeFamily(body)
}

// request sends one generic netlink request and returns the attributes of
// its one reply.
func (s *sock) request(typ uint16, cmd, version uint8, attrs []byte) ([]byte, error) {
	s.seq++
	msg := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+genlHdrLen+len(attrs)))
	msg = binary.NativeEndian.AppendUint16(msg, typ)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST)
	msg = binary.NativeEndian.AppendUint32(msg, s.seq)
	msg = binary.NativeEndian.AppendUint32(msg, 0) // port: the kernel fills it in
	msg = append(msg, cmd, version, 0, 0)
	msg = append(msg, attrs...)
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("generic netlink request: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		if err != nil {
			return nil, fmt.Errorf("generic netlink reply: %w", err)
		}
		body, ok, err := reply(s.buf[:n], s.seq)
		if ok || err != nil {
			return body, err
		}
	}
}

// reply finds the answer to request seq in one datagram: its attributes
// (after the generic netlink header), or the error the kernel answered
// with. ok is false when the datagram holds only answers to other requests.
func reply(b []byte, seq uint32) (attrs []byte, ok bool, err error) {
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN {
			return nil, false, errors.New("generic netlink reply: short header")
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, false, fmt.Errorf("generic netlink reply: message length %d of %d bytes", l, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		data := b[unix.NLMSG_HDRLEN:l]
		if binary.NativeEndian.Uint32(b[8:]) == seq {
			switch typ {
			case unix.NLMSG_ERROR:
				if len(data) < 4 {
					return nil, true, errors.New("generic netlink reply: short error message")
				}
				if e := -int32(binary.NativeEndian.Uint32(data)); e != 0 {
					return nil, true, unix.Errno(e)
				}
				return nil, true, errors.New("generic netlink reply: an acknowledgement, no answer")
			case unix.NLMSG_DONE, unix.NLMSG_NOOP:
			default:
				if len(data) < genlHdrLen {
					return nil, true, errors.New("generic netlink reply: short generic header")
				}
				return data[genlHdrLen:], true, nil
			}
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
	return nil, false, nil
}

// decodeFamily reads the family id from a CTRL_CMD_GETFAMILY answer.
func decodeFamily(attrs []byte) (uint16, error) {
	var id uint16
	err := walk(attrs, func(typ uint16, val []byte) error {
		if typ == unix.CTRL_ATTR_FAMILY_ID {
			if len(val) < 2 {
				return errors.New("short family id")
			}
			id = binary.NativeEndian.Uint16(val)
		}
		return nil
	})
	if err == nil && id == 0 {
		err = errors.New("no family id in the answer")
	}
	return id, err
}

// decodeDev reads a NETDEV_CMD_DEV_GET answer. Attributes a later kernel
// adds (rx metadata, xsk features) are passed over.
func decodeDev(attrs []byte) (Features, error) {
	var f Features
	err := walk(attrs, func(typ uint16, val []byte) error {
		switch typ {
		case attrFeatures:
			v, err := readUint(val)
			if err != nil {
				return fmt.Errorf("xdp-features: %w", err)
			}
			f.Known, f.XDP = true, Feature(v)
		case attrZCMaxSegs:
			v, err := readUint(val)
			if err != nil {
				return fmt.Errorf("xdp-zc-max-segs: %w", err)
			}
			f.ZCMaxSegs = uint32(v)
		}
		return nil
	})
	if err != nil {
		return Features{}, err
	}
	return f, nil
}

// readUint reads a netlink unsigned integer, 4 or 8 bytes (the netdev spec's
// "uint" and u64 attributes may come in either size).
func readUint(val []byte) (uint64, error) {
	switch len(val) {
	case 4:
		return uint64(binary.NativeEndian.Uint32(val)), nil
	case 8:
		return binary.NativeEndian.Uint64(val), nil
	}
	return 0, fmt.Errorf("%d-byte integer", len(val))
}

// walk calls fn for each attribute in b.
func walk(b []byte, fn func(typ uint16, val []byte) error) error {
	for len(b) > 0 {
		if len(b) < unix.SizeofNlAttr {
			return fmt.Errorf("%d bytes left after the last attribute", len(b))
		}
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofNlAttr || l > len(b) {
			return fmt.Errorf("attribute length %d of %d bytes", l, len(b))
		}
		if err := fn(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[unix.SizeofNlAttr:l]); err != nil {
			return err
		}
		b = b[min(nlaAlign(l), len(b)):]
	}
	return nil
}

// attr appends one netlink attribute, padded to its alignment.
func attr(b []byte, typ uint16, val []byte) []byte {
	l := unix.SizeofNlAttr + len(val)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, val...)
	for len(b)%unix.NLA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

func nlaAlign(l int) int { return (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }
func nlmAlign(l int) int { return (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
