package xsk

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// mapUMEM allocates the frame memory shared with the kernel and registers it
// on fd. Registration pins the pages, which counts against RLIMIT_MEMLOCK
// unless the process has CAP_IPC_LOCK: that is the usual reason it fails.
func mapUMEM(fd int, cfg Config) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, cfg.UMEMBytes(), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("allocating %d MiB of UMEM: %w", cfg.UMEMBytes()>>20, err)
	}
	reg := unix.XDPUmemReg{
		Addr: addressOf(mem),
		Len:  uint64(len(mem)),
		Size: uint32(cfg.FrameSize),
	}
	if err := setsockopt(fd, unix.XDP_UMEM_REG, &reg); err != nil {
		unix.Munmap(mem)
		if errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOBUFS) {
			var lim unix.Rlimit
			unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
			return nil, fmt.Errorf("registering %d MiB of UMEM: %w (locked memory: give the process CAP_IPC_LOCK or raise RLIMIT_MEMLOCK, now %d KiB, or use fewer/smaller frames)",
				cfg.UMEMBytes()>>20, err, lim.Cur>>10)
		}
		return nil, fmt.Errorf("registering UMEM: %w", err)
	}
	return mem, nil
}

// mapRings sizes the four rings, then maps them; it returns the mappings so
// that Close can unmap them.
func (s *Socket) mapRings(size int) error {
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING, unix.XDP_TX_RING} {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, opt, size); err != nil {
			return fmt.Errorf("sizing AF_XDP ring %d to %d: %w", opt, size, err)
		}
	}
	var off unix.XDPMmapOffsets
	if err := getsockopt(s.fd, unix.XDP_MMAP_OFFSETS, &off); err != nil {
		return fmt.Errorf("reading AF_XDP ring offsets: %w", err)
	}
	n := uint32(size)
	descSize := uint64(sizeofDesc)
	mmapRing := func(o unix.XDPRingOffset, entry uint64, pgoff int64) ([]byte, error) {
		mem, err := unix.Mmap(s.fd, pgoff, int(o.Desc+uint64(n)*entry), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("mapping AF_XDP ring at offset %#x: %w", pgoff, err)
		}
		s.maps = append(s.maps, mem)
		return mem, nil
	}
	mem, err := mmapRing(off.Fr, 8, unix.XDP_UMEM_PGOFF_FILL_RING)
	if err != nil {
		return err
	}
	s.fill = mapAddrRing(mem, off.Fr, n)
	if mem, err = mmapRing(off.Cr, 8, unix.XDP_UMEM_PGOFF_COMPLETION_RING); err != nil {
		return err
	}
	s.comp = mapAddrRing(mem, off.Cr, n)
	if mem, err = mmapRing(off.Rx, descSize, unix.XDP_PGOFF_RX_RING); err != nil {
		return err
	}
	s.rx = mapDescRing(mem, off.Rx, n)
	if mem, err = mmapRing(off.Tx, descSize, unix.XDP_PGOFF_TX_RING); err != nil {
		return err
	}
	s.tx = mapDescRing(mem, off.Tx, n)
	return nil
}
