package bpf

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// A handover moves an interface from one afxdp process to another without
// detaching anything: the owner passes duplicates of its bpf_link and
// program descriptors, the successor swaps its own program into the link
// (BPF_LINK_UPDATE), and the link stays attached as long as either process
// holds a descriptor. Nothing is pinned, so when both are gone the kernel
// detaches it.

// HandoverFiles duplicates the link and program descriptors to pass to a
// successor (SCM_RIGHTS). The caller closes the files once sent.
func (f *Filter) HandoverFiles() (linkFile, progFile *os.File, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.link.(interface{ FD() int })
	if !ok {
		return nil, nil, errors.New("XDP filter is not attached with a bpf_link")
	}
	ld, err := unix.FcntlInt(uintptr(fl.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("duplicating the XDP link: %w", err)
	}
	pd, err := unix.FcntlInt(uintptr(f.objs.XdpDns.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(ld)
		return nil, nil, fmt.Errorf("duplicating the XDP program: %w", err)
	}
	return os.NewFile(uintptr(ld), "xdp-link"), os.NewFile(uintptr(pd), "xdp-prog"), nil
}

// Adopt takes over the link an owner passed (linkFD and the owner's
// program, oldProgFD; Adopt owns both descriptors from here) and swaps this
// filter's program into it. The swap is a compare-and-swap: it fails if the
// link no longer runs the owner's program, so two successors cannot both
// win. From the swap on, this filter decides every frame of the interface;
// its maps are empty, so everything goes to the kernel until it serves.
func (f *Filter) Adopt(linkFD, oldProgFD, ifindex int, mode Mode) error {
	old, err := ebpf.NewProgramFromFD(oldProgFD)
	if err != nil {
		unix.Close(linkFD)
		return fmt.Errorf("taking the owner's XDP program: %w", err)
	}
	defer old.Close()
	l, err := link.NewFromFD(linkFD)
	if err != nil {
		return fmt.Errorf("taking the owner's XDP link: %w", err)
	}
	if err := checkLink(l, ifindex); err != nil {
		l.Close()
		return err
	}
	u, ok := l.(interface {
		UpdateArgs(link.RawLinkUpdateOptions) error
	})
	if !ok {
		l.Close()
		return errors.New("the owner's XDP link cannot be updated")
	}
	err = u.UpdateArgs(link.RawLinkUpdateOptions{New: f.objs.XdpDns, Old: old, Flags: unix.BPF_F_REPLACE})
	if err != nil {
		l.Close()
		if errors.Is(err, syscall.EPERM) {
			err = fmt.Errorf("another process changed the program meanwhile: %w", err)
		}
		return fmt.Errorf("swapping the XDP program: %w", err)
	}
	f.mu.Lock()
	f.link, f.mode = l, mode
	f.mu.Unlock()
	return nil
}

func checkLink(l link.Link, ifindex int) error {
	info, err := l.Info()
	if err != nil {
		return fmt.Errorf("reading the owner's XDP link: %w", err)
	}
	if x := info.XDP(); x == nil || int(x.Ifindex) != ifindex {
		return fmt.Errorf("the owner passed a link that is not the XDP link of ifindex %d", ifindex)
	}
	return nil
}

// Reclaim puts this filter's program back into its link: a successor that
// took the interface over is gone, and whatever it left is replaced.
func (f *Filter) Reclaim() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.link == nil {
		return errors.New("XDP filter is not attached")
	}
	if err := f.link.Update(f.objs.XdpDns); err != nil {
		return fmt.Errorf("putting the XDP program back: %w", err)
	}
	return nil
}

// LinkID identifies the bpf_link: it stays the same across handovers.
func (f *Filter) LinkID() (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.link == nil {
		return 0, errors.New("XDP filter is not attached")
	}
	info, err := f.link.Info()
	if err != nil {
		return 0, err
	}
	return uint32(info.ID), nil
}

// TakeLink moves old's link, in this process, to f and puts f's program
// into it: the interface never loses its program. old keeps its maps.
func (f *Filter) TakeLink(old *Filter) error {
	old.mu.Lock()
	l, mode := old.link, old.mode
	old.link = nil
	old.mu.Unlock()
	if l == nil {
		return errors.New("the previous XDP filter holds no link")
	}
	if err := l.Update(f.objs.XdpDns); err != nil {
		l.Close()
		return fmt.Errorf("swapping the XDP program: %w", err)
	}
	f.mu.Lock()
	f.link, f.mode = l, mode
	f.mu.Unlock()
	return nil
}
