package xsk

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/internal/priv"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, c := range []Config{
		{Frames: 4096, FrameSize: 3000, RingSize: 2048},
		{Frames: 4096, FrameSize: 2048, RingSize: 1000},
		{Frames: 4095, FrameSize: 2048, RingSize: 2048},
		{Frames: 1 << 21, FrameSize: 2048, RingSize: 2048},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v validated", c)
		}
	}
	for _, m := range []BindMode{BindAuto, BindZeroCopy, BindCopy} {
		if got, err := ParseBindMode(m.String()); err != nil || got != m {
			t.Errorf("ParseBindMode(%s) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseBindMode("fast"); err == nil {
		t.Error("ParseBindMode(fast) succeeded")
	}
}

// TestTransmit opens a socket on each queue of a veth, transmits a frame
// through the TX ring of one and receives it on the peer with a packet
// socket; every TX frame must come back free after completion, and the
// queue can be bound again right after Close.
func TestTransmit(t *testing.T) {
	priv.Require(t)
	a, b := netns.New(t, "xa"), netns.New(t, "xb")
	netns.Veth(t, a, "veth-a", b, "veth-b", 2)
	var socks []*Socket
	var peer int
	err := a.Do(func() error {
		n, err := RXQueues("veth-a")
		if err != nil || n != 2 {
			t.Errorf("RXQueues = %d, %v; want 2", n, err)
		}
		nif, err := net.InterfaceByName("veth-a")
		if err != nil {
			return err
		}
		for q := range 2 {
			s, err := Open(nif.Index, q, DefaultConfig)
			if err != nil {
				return err
			}
			socks = append(socks, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	if err := b.Do(func() (err error) {
		peer, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(pkt.Htons(0x88b5)))
		if err != nil {
			return err
		}
		nif, err := net.InterfaceByName("veth-b")
		if err != nil {
			return err
		}
		unix.SetsockoptTimeval(peer, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
		return unix.Bind(peer, &unix.SockaddrLinklayer{Protocol: pkt.Htons(0x88b5), Ifindex: nif.Index})
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(peer)

	s := socks[1]
	if s.ZeroCopy() {
		t.Error("veth bound in zero-copy mode")
	}
	free := s.TxFree()
	if free != DefaultConfig.Frames/2 {
		t.Fatalf("TxFree %d at start, want %d", free, DefaultConfig.Frames/2)
	}
	// A frame of the local experimental EtherType 0x88b5.
	frame := append(bytes.Repeat([]byte{0xff}, 6), 2, 0, 0, 0, 0, 1, 0x88, 0xb5)
	frame = append(frame, []byte("afxdp tx ring test")...)
	addr, buf, ok := s.NextTx()
	if !ok {
		t.Fatal("no TX frame")
	}
	copy(buf, frame)
	if !s.Send(addr, len(frame)) {
		t.Fatal("TX ring full")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2048)
	n, err := unix.Read(peer, got)
	if err != nil || !bytes.Equal(got[:n], frame) {
		t.Fatalf("peer read %x, %v; want %x", got[:n], err, frame)
	}
	for end := time.Now().Add(time.Second); s.TxFree() != free && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if s.TxFree() != free {
		t.Errorf("TxFree %d after completion, want %d: a frame leaked", s.TxFree(), free)
	}
	if _, err := s.Stats(); err != nil {
		t.Error(err)
	}

	// Rebinding a queue just closed may meet EBUSY for a moment; Open
	// retries.
	s.Close()
	if err := a.Do(func() error {
		nif, err := net.InterfaceByName("veth-a")
		if err != nil {
			return err
		}
		socks[1], err = Open(nif.Index, 1, DefaultConfig)
		return err
	}); err != nil {
		t.Fatalf("rebinding queue 1: %v", err)
	}
	if err := a.Do(func() error {
		nif, _ := net.InterfaceByName("veth-a")
		_, err := Open(nif.Index, 7, DefaultConfig)
		if err == nil {
			t.Error("bound queue 7 of a two-queue veth")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
