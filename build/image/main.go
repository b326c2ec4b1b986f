// Command image writes this project's container image as a `docker save`
// tarball, without a container daemon or a registry: what `docker load`
// (Debian's docker 20.10 and later), `ctr images import`, `podman load` and
// `kind load image-archive` accept.
//
//	go run ./build/image -coredns PATH [-noderoute PATH] [-tag NAME] [-o FILE]
//
// (`make image` builds both binaries with CGO_ENABLED=0 and runs this.) The
// tarball holds manifest.json, the image config (named by its sha256) and
// one uncompressed layer:
//
//	/coredns     the static coredns binary, root-owned, mode 0755, with the
//	             file capabilities of README.md's table (below)
//	/noderoute   the node-local router (deploy/kubernetes/noderoute), if
//	             given, without file capabilities: its containers run as
//	             root with exactly the capabilities each of its modes needs
//	/etc/passwd  root and nonroot (65532), both with /sbin/nologin
//	/etc/group   root and nonroot
//
// and nothing else: no shell, no libc, no CA certificates (add them with a
// layer of your own to `forward` over TLS). The config runs /coredns as
// 65532:65532 with `-conf /etc/coredns/Corefile`.
//
// Names. The tarball names the image twice (manifest.json's RepoTags): -tag
// (localhost/afxdp/coredns:dev) and the pinned tag, -tag's tag with "-" and
// the first 12 hex digits of the image ID appended
// (localhost/afxdp/coredns:dev-0123456789ab). A loaded tarball has no
// registry digest to pin it by, and :dev names whatever was loaded last;
// the pinned tag names these bytes only, and `make k8s` writes it into the
// manifests (deploy/kubernetes/manifests).
//
// Capabilities. A process that is not root loses its capabilities when it
// executes a file, unless they are ambient (which Kubernetes does not set)
// or the file carries them. So the layer records, as CoreDNS's own image
// does for NET_BIND_SERVICE, the extended attribute security.capability
// (VFS_CAP_REVISION_2: the six as permitted, the effective bit set, none
// inheritable) in the PAX record SCHILY.xattr.security.capability of the
// binary's tar header; runtimes that unpack layers (containerd, Docker,
// podman) set it on the file. In a container that adds the six to its
// bounding set, the non-root process then has exactly them, also with
// no_new_privs (allowPrivilegeEscalation: false): the runtime gives the
// container's first process the six in its permitted set, so executing the
// file gains nothing new. The other side of the effective bit: the kernel
// refuses to execute the file (EPERM) in a container whose bounding set
// lacks any of the six, as it refuses a setcap'ed ping without NET_RAW.
//
// Reproducible: every timestamp is -created (default: the Unix epoch, or
// SOURCE_DATE_EPOCH), entries are in a fixed order with no owner names, so
// the same binaries give the same bytes and the same image ID.
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
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultTag is the name the tarball gives the image, and the one
// deploy/kubernetes's manifests run (its test holds them to it). The
// localhost/ domain is never pulled from a public registry: a node that
// was not loaded with the tarball fails to pull instead of running
// somebody else's image.
const DefaultTag = "localhost/afxdp/coredns:dev"

// The user the image runs as: distroless's nonroot.
const (
	UID = 65532
	GID = 65532
)

// CorednsCaps are the capabilities of README.md's table, which afxdp needs
// (the test compares them with the table).
var CorednsCaps = []int{
	unix.CAP_NET_ADMIN,        // attach the XDP program
	unix.CAP_NET_RAW,          // open AF_XDP sockets
	unix.CAP_BPF,              // load the program, create its maps
	unix.CAP_PERFMON,          // variable-offset packet access in the verifier
	unix.CAP_IPC_LOCK,         // lock the UMEM
	unix.CAP_NET_BIND_SERVICE, // port 53
}

// The layout of struct vfs_cap_data (linux/capability.h), revision 2.
const (
	vfsCapRevision2      = 0x02000000
	vfsCapFlagsEffective = 0x000001
	xattrCapsKey         = "SCHILY.xattr.security.capability"
)

// CapabilityXattr encodes caps as the value of security.capability: the
// revision with the effective flag, then permitted and inheritable for
// capabilities 0-31 and 32-63, little-endian.
func CapabilityXattr(caps []int) []byte {
	var permitted [2]uint32
	for _, c := range caps {
		permitted[c/32] |= 1 << (c % 32)
	}
	b := make([]byte, 0, 20)
	b = binary.LittleEndian.AppendUint32(b, vfsCapRevision2|vfsCapFlagsEffective)
	for _, p := range permitted {
		b = binary.LittleEndian.AppendUint32(b, p) // permitted
		b = binary.LittleEndian.AppendUint32(b, 0) // inheritable
	}
	return b
}

// File is a regular file of the layer.
type File struct {
	Name string // in the layer, without a leading slash
	Mode int64
	Data []byte
	Caps []int // file capabilities, none if empty
}

// Options are what an image is made of.
type Options struct {
	Tag     string
	Arch    string // GOARCH of the binaries
	Created time.Time
	Files   []File // besides /etc/passwd and /etc/group
}

const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnonroot:x:65532:\n"
)

// Layer writes the image's one layer, an uncompressed tar.
func Layer(w io.Writer, o Options) error {
	tw := tar.NewWriter(w)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755,
			ModTime: o.Created, Format: tar.FormatPAX})
	}
	file := func(f File) error {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)),
			ModTime: o.Created, Format: tar.FormatPAX}
		if len(f.Caps) > 0 {
			h.PAXRecords = map[string]string{xattrCapsKey: string(CapabilityXattr(f.Caps))}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(f.Data)
		return err
	}
	for _, f := range o.Files {
		if err := file(f); err != nil {
			return err
		}
	}
	if err := dir("etc/"); err != nil {
		return err
	}
	for _, f := range []File{{Name: "etc/group", Mode: 0o644, Data: []byte(group)},
		{Name: "etc/passwd", Mode: 0o644, Data: []byte(passwd)}} {
		if err := file(f); err != nil {
			return err
		}
	}
	return tw.Close()
}

// Config is the image configuration (the parts of the OCI image config
// that Docker's and containerd's loaders read).
type Config struct {
	Architecture string        `json:"architecture"`
	OS           string        `json:"os"`
	Created      time.Time     `json:"created"`
	Config       RuntimeConfig `json:"config"`
	RootFS       RootFS        `json:"rootfs"`
	History      []History     `json:"history"`
}

type RuntimeConfig struct {
	User         string              `json:"User"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	WorkingDir   string              `json:"WorkingDir"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Labels       map[string]string   `json:"Labels"`
}

type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type History struct {
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// ManifestEntry is one image of a docker save tarball's manifest.json.
type ManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// PinnedTag is tag with "-" and the first 12 hex digits of the image ID id
// (sha256:...) appended to its tag part ("latest" if it has none):
// localhost/afxdp/coredns:dev becomes localhost/afxdp/coredns:dev-0123456789ab,
// as `docker images` shows the ID's first 12 digits.
func PinnedTag(tag, id string) string {
	name, t := tag, "latest"
	if i := strings.LastIndexByte(tag, ':'); i > strings.LastIndexByte(tag, '/') {
		name, t = tag[:i], tag[i+1:]
	}
	return name + ":" + t + "-" + strings.TrimPrefix(id, "sha256:")[:12]
}

// Write writes the tarball: the layer under its digest, the config named
// by its digest, manifest.json naming it o.Tag and PinnedTag. It returns
// the image ID (the config's digest), which `docker images --no-trunc` and
// `crictl images` show.
func Write(w io.Writer, o Options) (id string, err error) {
	var layer bytes.Buffer
	if err := Layer(&layer, o); err != nil {
		return "", fmt.Errorf("layer: %w", err)
	}
	layerHex := hex.EncodeToString(sha(layer.Bytes()))
	cfg := Config{
		Architecture: o.Arch,
		OS:           "linux",
		Created:      o.Created,
		Config: RuntimeConfig{
			User:         fmt.Sprintf("%d:%d", UID, GID),
			Entrypoint:   []string{"/coredns"},
			Cmd:          []string{"-conf", "/etc/coredns/Corefile"},
			WorkingDir:   "/",
			ExposedPorts: map[string]struct{}{"53/tcp": {}, "53/udp": {}},
			Labels: map[string]string{
				"org.opencontainers.image.title":       "coredns-afxdp",
				"org.opencontainers.image.description": "CoreDNS with the afxdp plugin: DNS over AF_XDP",
				"org.opencontainers.image.licenses":    "Apache-2.0",
			},
		},
		RootFS: RootFS{Type: "layers", DiffIDs: []string{"sha256:" + layerHex}},
		History: []History{{Created: o.Created,
			CreatedBy: "afxdp build/image: static coredns with file capabilities, nonroot user, no shell"}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	id = "sha256:" + hex.EncodeToString(sha(cfgJSON))
	cfgName := hex.EncodeToString(sha(cfgJSON)) + ".json"
	layerName := layerHex + "/layer.tar"
	manifest, err := json.Marshal([]ManifestEntry{{Config: cfgName, RepoTags: []string{o.Tag, PinnedTag(o.Tag, id)}, Layers: []string{layerName}}})
	if err != nil {
		return "", err
	}

	tw := tar.NewWriter(w)
	for _, e := range []struct {
		name string
		data []byte
	}{{layerHex + "/", nil}, {layerName, layer.Bytes()}, {cfgName, cfgJSON}, {"manifest.json", manifest}} {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: o.Created}
		if e.data == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
		if _, err := tw.Write(e.data); err != nil {
			return "", err
		}
	}
	return id, tw.Close()
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// readBinary reads an executable for the image: it must be a statically
// linked ELF file (the image has no libc) of arch, unless it is no ELF at
// all (tests use small dummy files).
func readBinary(path, arch string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return data, nil // not ELF
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked: the image has no libc; build it with CGO_ENABLED=0", path)
		}
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386,
		"arm": elf.EM_ARM, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV}[arch]
	if want != 0 && f.Machine != want {
		return nil, fmt.Errorf("%s is built for %v, the image for %s (-arch)", path, f.Machine, arch)
	}
	return data, nil
}

// created is the images' timestamp: -created, else SOURCE_DATE_EPOCH (the
// reproducible-builds convention), else the epoch.
func created(flagValue string) (time.Time, error) {
	if flagValue != "" {
		return time.Parse(time.RFC3339, flagValue)
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

func main() {
	coredns := flag.String("coredns", "", "the static coredns binary (required)")
	noderoute := flag.String("noderoute", "", "the static noderoute binary (optional)")
	tag := flag.String("tag", DefaultTag, "the image's name")
	out := flag.String("o", "coredns-afxdp.tar", "the tarball to write")
	arch := flag.String("arch", runtime.GOARCH, "the binaries' GOARCH")
	createdFlag := flag.String("created", "", "timestamp (RFC 3339) of every entry; default SOURCE_DATE_EPOCH or the epoch")
	flag.Parse()
	if err := run(*coredns, *noderoute, *tag, *out, *arch, *createdFlag); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(coredns, noderoute, tag, out, arch, createdFlag string) error {
	if coredns == "" {
		return errors.New("-coredns is required")
	}
	t, err := created(createdFlag)
	if err != nil {
		return err
	}
	o := Options{Tag: tag, Arch: arch, Created: t}
	data, err := readBinary(coredns, arch)
	if err != nil {
		return err
	}
	o.Files = append(o.Files, File{Name: "coredns", Mode: 0o755, Data: data, Caps: CorednsCaps})
	if noderoute != "" {
		data, err := readBinary(noderoute, arch)
		if err != nil {
			return err
		}
		o.Files = append(o.Files, File{Name: "noderoute", Mode: 0o755, Data: data})
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	id, err := Write(f, o)
	if err != nil {
		f.Close()
		os.Remove(out)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %s and %s, image ID %s\n", out, tag, PinnedTag(tag, id), id)
	return nil
}
