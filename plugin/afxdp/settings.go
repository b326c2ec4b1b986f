package afxdp

import (
	"fmt"
	"strings"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// settings are what one afxdp directive says: the interface's datapath
// options, and the block's own hot-answer settings.
type settings struct {
	opts       datapath.Options
	hot        hotMode
	hotLine    int // where `hot` was set, for the error if it cannot be
	hotEntries int
}

// defaultHotEntries bounds each listener's hot table: it holds a busy
// resolver's hot set (the XDP program's table takes 131,072 small
// entries). maxHotEntries caps the option: the table's arrays take 41
// bytes an entry at start, and each entry filled about 0.5 KiB (an A
// record) to 1 KiB (see the README's Memory).
const (
	defaultHotEntries = 131072
	maxHotEntries     = 1 << 20
)

func defaultSettings() settings {
	return settings{opts: datapath.DefaultOptions(), hotEntries: defaultHotEntries}
}

// hotMode is a block's `hot` setting.
type hotMode int

const (
	hotAuto hotMode = iota // on where answers cannot be told from the chain's, in the best tier
	hotOn                  // as auto, and start-up fails where they could
	hotOff
	hotUser // as on, answered in the receive loop only
	hotXDP  // as on, answered in the XDP program too, whatever the interface
)

func parseHotMode(s string) (hotMode, error) {
	switch s {
	case "auto":
		return hotAuto, nil
	case "on":
		return hotOn, nil
	case "off":
		return hotOff, nil
	case "user":
		return hotUser, nil
	case "xdp":
		return hotXDP, nil
	}
	return hotAuto, fmt.Errorf("%q: want auto, on, off, user or xdp", s)
}

// parseToken checks a handover token: what two processes must share for
// one to take an interface over from the other.
func parseToken(s string) (string, error) {
	if len(s) > 256 || strings.ContainsFunc(s, func(r rune) bool { return r < '!' || r > '~' }) {
		return "", fmt.Errorf("%q: want up to 256 printable ASCII characters", s)
	}
	return s, nil
}
