package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/priv"
	"github.com/afxdp/afxdp/internal/readme"
)

// capNames are linux/capability.h's capabilities by number, to decode the
// xattr independently of the code that encodes it.
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
	"SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND",
	"AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// readmeCaps reads the capability table of the top README: CAP_ names.
func readmeCaps(t *testing.T) []string {
	t.Helper()
	caps, err := readme.Caps("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return caps
}

// decodeCaps decodes a security.capability value of revision 2: the
// permitted capabilities' names, sorted; it fails on anything else
// (another revision, no effective bit, inheritable bits, a wrong size).
func decodeCaps(t *testing.T, v []byte) []string {
	t.Helper()
	if len(v) != 20 {
		t.Fatalf("security.capability is %d bytes, want 20 (revision 2)", len(v))
	}
	magic := binary.LittleEndian.Uint32(v)
	if magic&0xff000000 != 0x02000000 {
		t.Fatalf("security.capability revision %#x, want 0x02000000", magic&0xff000000)
	}
	if magic&1 != 1 {
		t.Fatalf("security.capability has no effective bit (%#x)", magic)
	}
	var names []string
	for half := 0; half < 2; half++ {
		perm := binary.LittleEndian.Uint32(v[4+8*half:])
		inh := binary.LittleEndian.Uint32(v[8+8*half:])
		if inh != 0 {
			t.Fatalf("inheritable capabilities %#x in word %d, want none", inh, half)
		}
		for bit := 0; bit < 32; bit++ {
			if perm&(1<<bit) == 0 {
				continue
			}
			n := 32*half + bit
			if n >= len(capNames) {
				t.Fatalf("unknown capability %d", n)
			}
			names = append(names, "CAP_"+capNames[n])
		}
	}
	slices.Sort(names)
	return names
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, b []byte) (map[string]entry, []string) {
	t.Helper()
	m := map[string]entry{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return m, order
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := m[h.Name]; dup {
			t.Fatalf("%s twice in the archive", h.Name)
		}
		m[h.Name] = entry{h, data}
		order = append(order, h.Name)
	}
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func testOptions() Options {
	return Options{
		Tag: DefaultTag, Arch: "amd64", Created: time.Unix(0, 0).UTC(),
		Files: []File{
			{Name: "coredns", Mode: 0o755, Data: []byte("a dummy coredns\n"), Caps: CorednsCaps},
			{Name: "noderoute", Mode: 0o755, Data: []byte("a dummy noderoute\n")},
		},
	}
}

func TestTarball(t *testing.T) {
	var buf bytes.Buffer
	id, err := Write(&buf, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	outer, _ := readTar(t, buf.Bytes())

	// manifest.json: one image, its config and layer present.
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	mj, ok := outer["manifest.json"]
	if !ok {
		t.Fatal("no manifest.json")
	}
	if err := json.Unmarshal(mj.data, &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 {
		t.Fatalf("manifest.json has %d images, want 1", len(manifest))
	}
	m := manifest[0]
	// Both names: -tag and the pinned one, the ID's first 12 hex digits.
	if want := []string{DefaultTag, DefaultTag + "-" + strings.TrimPrefix(id, "sha256:")[:12]}; !slices.Equal(m.RepoTags, want) {
		t.Errorf("RepoTags %q, want %q", m.RepoTags, want)
	}
	cfgEntry, ok := outer[m.Config]
	if !ok {
		t.Fatalf("manifest.json's Config %s is not in the archive", m.Config)
	}
	if want := hexSHA(cfgEntry.data) + ".json"; m.Config != want {
		t.Errorf("config is named %s, its sha256 is %s", m.Config, want)
	}
	if want := "sha256:" + hexSHA(cfgEntry.data); id != want {
		t.Errorf("Write returned image ID %s, the config's digest is %s", id, want)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("manifest.json lists %d layers, want 1", len(m.Layers))
	}
	layerEntry, ok := outer[m.Layers[0]]
	if !ok {
		t.Fatalf("manifest.json's layer %s is not in the archive", m.Layers[0])
	}

	// The config: the layer's digest in rootfs.diff_ids, a non-root user.
	var cfg struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			User       string
			Entrypoint []string
			Cmd        []string
		} `json:"config"`
		RootFS struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		History []struct {
			EmptyLayer bool `json:"empty_layer"`
		} `json:"history"`
	}
	if err := json.Unmarshal(cfgEntry.data, &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	diffID := "sha256:" + hexSHA(layerEntry.data)
	if cfg.RootFS.Type != "layers" || !slices.Equal(cfg.RootFS.DiffIDs, []string{diffID}) {
		t.Errorf("rootfs %+v, want type layers, diff_ids [%s]", cfg.RootFS, diffID)
	}
	if nonEmpty := len(cfg.History); nonEmpty != 1 || cfg.History[0].EmptyLayer {
		t.Errorf("history %+v: want one entry for the one layer", cfg.History)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("os/arch %s/%s", cfg.OS, cfg.Architecture)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("User %q, want 65532:65532", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/coredns"}) {
		t.Errorf("Entrypoint %q", cfg.Config.Entrypoint)
	}

	// The layer: the binaries with their capabilities, passwd, no shell.
	layer, order := readTar(t, layerEntry.data)
	wantNames := []string{"coredns", "noderoute", "etc/", "etc/group", "etc/passwd"}
	if got := slices.Sorted(slices.Values(order)); !slices.Equal(got, slices.Sorted(slices.Values(wantNames))) {
		t.Errorf("layer holds %q, want %q", got, wantNames)
	}
	for name, e := range layer {
		base := path.Base(strings.TrimSuffix(name, "/"))
		if slices.Contains([]string{"sh", "bash", "dash", "ash", "busybox"}, base) || strings.HasPrefix(name, "bin/") {
			t.Errorf("the layer has %s: no shell wanted", name)
		}
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "" || e.hdr.Gname != "" {
			t.Errorf("%s owned by %d(%q):%d(%q), want 0:0 without names", name, e.hdr.Uid, e.hdr.Uname, e.hdr.Gid, e.hdr.Gname)
		}
		if !e.hdr.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s has mtime %v", name, e.hdr.ModTime)
		}
		if e.hdr.Mode&0o6000 != 0 {
			t.Errorf("%s is setuid/setgid (%o)", name, e.hdr.Mode)
		}
	}
	if e := layer["coredns"]; string(e.data) != "a dummy coredns\n" || e.hdr.Mode != 0o755 || e.hdr.Typeflag != tar.TypeReg {
		t.Errorf("coredns: mode %o type %c content %q", e.hdr.Mode, e.hdr.Typeflag, e.data)
	}
	if got, want := decodeCaps(t, []byte(layer["coredns"].hdr.PAXRecords[xattrCapsKey])), readmeCaps(t); !slices.Equal(got, want) {
		t.Errorf("coredns's file capabilities are %q, README.md's table says %q", got, want)
	}
	for _, name := range []string{"noderoute", "etc/passwd", "etc/group", "etc/"} {
		if len(layer[name].hdr.PAXRecords) != 0 {
			t.Errorf("%s has PAX records %q", name, layer[name].hdr.PAXRecords)
		}
	}
	passwd := string(layer["etc/passwd"].data)
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", passwd)
	}
	for _, line := range strings.Split(strings.TrimSpace(passwd), "\n") {
		if !strings.HasSuffix(line, ":/sbin/nologin") {
			t.Errorf("/etc/passwd line %q: a login shell", line)
		}
	}
}

// The same input gives the same bytes; only the timestamp moves them.
func TestReproducible(t *testing.T) {
	var a, b, c bytes.Buffer
	o := testOptions()
	if _, err := Write(&a, o); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(&b, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two tarballs of the same input differ")
	}
	o.Created = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	if _, err := Write(&c, o); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("-created changed nothing")
	}
}

func TestPinnedTag(t *testing.T) {
	id := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for tag, want := range map[string]string{
		"localhost/afxdp/coredns:dev":   "localhost/afxdp/coredns:dev-0123456789ab",
		"localhost:5000/coredns":        "localhost:5000/coredns:latest-0123456789ab",
		"registry:5000/a/coredns:1.2.3": "registry:5000/a/coredns:1.2.3-0123456789ab",
	} {
		if got := PinnedTag(tag, id); got != want {
			t.Errorf("PinnedTag(%q) = %q, want %q", tag, got, want)
		}
	}
}

func TestCreated(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1765065600")
	if got, _ := created(""); !got.Equal(time.Unix(1765065600, 0)) {
		t.Errorf("SOURCE_DATE_EPOCH: %v", got)
	}
	if got, _ := created("2026-01-02T03:04:05Z"); !got.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("-created: %v", got)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	if got, _ := created(""); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("default: %v", got)
	}
}

// A dynamically linked binary would find no libc in the image.
func TestRefusesDynamicBinary(t *testing.T) {
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		dynamic := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		f.Close()
		if !dynamic {
			continue
		}
		if _, err := readBinary(p, "amd64"); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("readBinary(%s) = %v, want a refusal naming CGO_ENABLED=0", p, err)
		}
		return
	}
	t.Skip("no dynamically linked true(1) here")
}

// The Dockerfile for users who build their own sets, with setcap, the same
// capabilities: running its setcap line on a file writes exactly the bytes
// this program puts in the layer. Needs root (CAP_SETFCAP) and setcap.
func TestDockerfileSetcapMatches(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`setcap\s+(\S+)=ep\s+/(\w+)`)
	ms := re.FindAllStringSubmatch(string(df), -1)
	want := map[string][]int{"coredns": CorednsCaps}
	if len(ms) != len(want) {
		t.Fatalf("Dockerfile: %d setcap lines, want one each for %d binaries", len(ms), len(want))
	}
	for _, m := range ms {
		var names []string
		for _, c := range strings.Split(m[1], ",") {
			names = append(names, strings.ToUpper(c))
		}
		slices.Sort(names)
		if got := decodeCaps(t, CapabilityXattr(want[m[2]])); !slices.Equal(names, got) {
			t.Errorf("Dockerfile gives /%s %q, this program %q", m[2], names, got)
		}
	}
	priv.Require(t)
	if _, err := exec.LookPath("setcap"); err != nil {
		t.Skip("no setcap (Debian's libcap2-bin; make deps installs it)")
	}
	for _, m := range ms {
		f := filepath.Join(t.TempDir(), m[2])
		if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("setcap", m[1]+"=ep", f).CombinedOutput(); err != nil {
			t.Fatalf("setcap: %v: %s", err, out)
		}
		got := make([]byte, 64)
		n, err := unix.Getxattr(f, "security.capability", got)
		if err != nil {
			t.Fatalf("reading the xattr setcap wrote: %v", err)
		}
		if exp := CapabilityXattr(want[m[2]]); !bytes.Equal(got[:n], exp) {
			t.Errorf("/%s: setcap wrote % x, this program writes % x", m[2], got[:n], exp)
		}
	}
}
