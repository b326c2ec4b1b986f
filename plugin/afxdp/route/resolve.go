package route

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// family is an address's rtnetlink family and full prefix length.
func family(a netip.Addr) (fam, bits byte) {
	if a.Is4() {
		return unix.AF_INET, 32
	}
	return unix.AF_INET6, 128
}

// Resolve makes the kernel resolve addr on the device index, as it does
// before it sends there (an ARP or ND probe; NTF_USE): the entry is
// usable a moment later if the host answers. For a next hop that only
// replies sent in place would go to, the kernel would otherwise never
// look it up.
func (c *Conn) Resolve(index int, addr netip.Addr) error {
	fam, _ := family(addr)
	body := make([]byte, unix.SizeofNdMsg)
	body[0] = fam
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	body[10] = unix.NTF_USE // ndm_flags
	body = attr(body, unix.NDA_DST, addr.AsSlice())
	if _, err := c.request(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_ACK, body); err != nil {
		return fmt.Errorf("resolving %s on interface %d: %w", addr, index, err)
	}
	return nil
}
