package netns

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The test network has one definition, run/testnet.sh: `make run`,
// `make bench` and the Go tests all build it with that script's functions.
// The Go tests give it namespaces of their own (New: random names, removed
// in t.Cleanup) and read its addresses from it.

// Net is the test network: the client cli and the server srv joined by
// veth-c/veth-s, and, with an upstream, srv and ups joined by
// veth-su/veth-u.
type Net struct {
	Cli, Srv *NS
	Ups      *NS // nil without the upstream
}

// NewNet makes the namespaces and the test network in them, with queues
// queues on the client–server link; the upstream namespace and its link
// only when upstream is true.
func NewNet(t testing.TB, queues int, upstream bool) *Net {
	t.Helper()
	n := &Net{Cli: New(t, "cli"), Srv: New(t, "srv")}
	env := []string{"CLI=" + n.Cli.Name, "SRV=" + n.Srv.Name, "UPS="}
	if upstream {
		n.Ups = New(t, "ups")
		env[2] += n.Ups.Name
	}
	script(t, env, "testnet_links", fmt.Sprint(queues))
	return n
}

// The test network's addresses as run/testnet.sh defines them.
var (
	Cli4, Cli6 = prefix("CLI4"), prefix("CLI6") // the client, on veth-c
	Srv4, Srv6 = prefix("SRV4"), prefix("SRV6") // the server, on veth-s
	SU4, SU6   = prefix("SU4"), prefix("SU6")   // the server's end of the upstream link, veth-su
	Ups4, Ups6 = prefix("UPS4"), prefix("UPS6") // the upstream, on veth-u
)

// scriptPath is the path of run/testnet.sh: found from this source file, or
// (in a build without source paths) from the working directory up.
var scriptPath = sync.OnceValues(func() (string, error) {
	rel := filepath.Join("run", "testnet.sh")
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "..", "..", rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	dir, err := os.Getwd()
	for err == nil {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	return "", errors.New("run/testnet.sh not found above this source file or the working directory")
})

// definition matches the NAME=VALUE lines of run/testnet.sh.
var definition = regexp.MustCompile(`^(TESTNET_[A-Z0-9_]+)=([^\s"'#]+)(\s+#.*)?$`)

// definitions are the plain TESTNET_ variables run/testnet.sh sets, read
// from its text.
var definitions = sync.OnceValues(func() (map[string]string, error) {
	path, err := scriptPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defs := map[string]string{}
	for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
		if m := definition.FindStringSubmatch(sc.Text()); m != nil {
			defs[m[1]] = m[2]
		}
	}
	return defs, nil
})

// prefix is TESTNET_<name> of run/testnet.sh. Test binaries that import
// this package cannot do without it, so a missing one panics.
func prefix(name string) netip.Prefix {
	defs, err := definitions()
	if err != nil {
		panic(err)
	}
	p, err := netip.ParsePrefix(defs["TESTNET_"+name])
	if err != nil {
		panic(fmt.Sprintf("run/testnet.sh: TESTNET_%s: %v", name, err))
	}
	return p
}

// script runs a function of run/testnet.sh with args (under set -eu, with
// env added to the environment) and fails the test if it fails.
func script(t testing.TB, env []string, fn string, args ...string) {
	t.Helper()
	path, err := scriptPath()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{"-c", `set -eu -o pipefail; . "$0"; "$@"`, path, fn}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run/testnet.sh: %s %s %s: %v\n%s", strings.Join(env, " "), fn, strings.Join(args, " "), err, out)
	}
}
