package xsk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every place where memory is shared with the kernel, by pointer or by
// mapping, is in this file: it is the one to read for memory safety.

// sizeofDesc is the size of an RX or TX ring entry.
const sizeofDesc = unsafe.Sizeof(unix.XDPDesc{})

// setsockopt passes *v to an SOL_XDP option. x/sys/unix has no typed
// setter for the XDP structs.
func setsockopt[T any](fd, opt int, v *T) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(unsafe.Pointer(v)), unsafe.Sizeof(*v), 0)
	if e != 0 {
		return e
	}
	return nil
}

// getsockopt reads an SOL_XDP option into *v.
func getsockopt[T any](fd, opt int, v *T) error {
	l := uint32(unsafe.Sizeof(*v))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(unsafe.Pointer(v)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// addressOf is where mem starts, for the kernel. Only for memory that Go
// does not move: a mapping.
func addressOf(mem []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&mem[0]))) }

// wordAt is the ring index word at off in a ring mapping.
func wordAt(mem []byte, off uint64) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

// entriesAt is the n ring entries at off in a ring mapping.
func entriesAt[T any](mem []byte, off uint64, n uint32) []T {
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[off])), n)
}

// ifreqData is struct ifreq with ifr_data, the argument of SIOCETHTOOL.
type ifreqData struct {
	Name [unix.IFNAMSIZ]byte
	Data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtool runs the ethtool command whose struct is *cmd on ifname through
// fd, any socket.
func ethtool[T any](fd int, ifname string, cmd *T) unix.Errno {
	var ifr ifreqData
	copy(ifr.Name[:], ifname)
	ifr.Data = unsafe.Pointer(cmd)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	return e
}
