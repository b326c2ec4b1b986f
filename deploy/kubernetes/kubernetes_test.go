package kubernetes

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/kubernetes"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	// The plugins of the Corefiles, whose setup functions the test runs.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"

	_ "github.com/afxdp/afxdp/plugin/afxdp"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
	"github.com/afxdp/afxdp/internal/readme"
)

// The bases (directories with a kustomization.yaml) and what each holds.
var bases = map[string][]string{
	"cluster-dns": {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"},
	"node-local":  {"ServiceAccount", "Service", "ConfigMap", "DaemonSet", "DaemonSet"},
}

const (
	readmeFile   = "../../README.md"
	imageMain    = "../../build/image/main.go"
	nonrootUID   = 65532
	nodeLocalDir = "/run/afxdp-nodelocal"
)

// ---- Reading ----------------------------------------------------------------

type object struct {
	where string // file#index
	kind  string
	obj   any // a pointer to the typed object
}

func newTyped(apiVersion, kind string) (any, bool) {
	switch apiVersion + "/" + kind {
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		return &rbacv1.ClusterRole{}, true
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, true
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "monitoring.coreos.com/v1/PodMonitor":
		return &monitoringv1.PodMonitor{}, true
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &monitoringv1.PrometheusRule{}, true
	}
	return nil, false
}

// readFile decodes every YAML document of a file strictly (unknown or
// duplicate fields fail, as kubectl's server-side field validation would)
// into its Kubernetes API type.
func readFile(t *testing.T, path string) []object {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var out []object
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		if len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
			continue // comments only
		}
		b, err := yaml.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		where := fmt.Sprintf("%s#%d", path, i)
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal(b, &tm); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		obj, ok := newTyped(tm.APIVersion, tm.Kind)
		if !ok {
			t.Fatalf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
		}
		if err := sigsyaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s: %s: %v", where, tm.Kind, err)
		}
		out = append(out, object{where: where, kind: tm.Kind, obj: obj})
	}
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var k kustomization
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	return k
}

// checkResources: every manifest of the directory is a resource, and only
// those.
func checkResources(t *testing.T, dir string, k kustomization) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var want []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			want = append(want, filepath.Base(f))
		}
	}
	if got := slices.Sorted(slices.Values(k.Resources)); !slices.Equal(got, want) {
		t.Errorf("%s: resources %q, the directory has %q", dir, got, want)
	}
}

// readBase reads the resources a base's kustomization.yaml lists.
func readBase(t *testing.T, dir string) []object {
	t.Helper()
	var out []object
	for _, r := range readKustomization(t, dir).Resources {
		out = append(out, readFile(t, filepath.Join(dir, r))...)
	}
	return out
}

func all[T any](objs []object) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.obj.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func one[T any](t *testing.T, objs []object) *T {
	t.Helper()
	l := all[T](objs)
	if len(l) != 1 {
		t.Fatalf("%d %T, want 1", len(l), l)
	}
	return l[0]
}

// defaultTag reads build/image's DefaultTag, the name the image tarball
// gives the image.
func defaultTag(t *testing.T) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), imageMain, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var tag string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "DefaultTag" || len(vs.Values) != 1 {
			return true
		}
		if b, ok := vs.Values[0].(*ast.BasicLit); ok {
			tag, _ = strconv.Unquote(b.Value)
		}
		return false
	})
	if tag == "" {
		t.Fatalf("%s: no DefaultTag", imageMain)
	}
	return tag
}

// readmeCaps reads README.md's capability table, as Kubernetes names them
// (CAP_NET_ADMIN is NET_ADMIN).
func readmeCaps(t *testing.T) []string {
	t.Helper()
	caps, err := readme.Caps(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range caps {
		caps[i] = strings.TrimPrefix(c, "CAP_")
	}
	return caps
}

// ---- Pods -------------------------------------------------------------------

type workload struct {
	where    string
	selector *metav1.LabelSelector
	pod      *corev1.PodTemplateSpec
}

func workloads(objs []object) []workload {
	var out []workload
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{o.where + " " + v.Name, v.Spec.Selector, &v.Spec.Template})
		case *appsv1.DaemonSet:
			out = append(out, workload{o.where + " " + v.Name, v.Spec.Selector, &v.Spec.Template})
		}
	}
	return out
}

func allObjects(t *testing.T) []object {
	var out []object
	for dir := range bases {
		out = append(out, readBase(t, dir)...)
	}
	return out
}

// runs says which binary of the image a container runs and its mode:
// "coredns" (the image's entrypoint) or "noderoute MODE".
func runs(c *corev1.Container) string {
	if len(c.Command) == 0 || c.Command[0] == "/coredns" {
		return "coredns"
	}
	if c.Command[0] == "/noderoute" && len(c.Command) > 1 {
		return "noderoute " + c.Command[1]
	}
	return strings.Join(c.Command, " ")
}

func containers(p *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range p.InitContainers {
		out = append(out, &p.InitContainers[i])
	}
	for i := range p.Containers {
		out = append(out, &p.Containers[i])
	}
	return out
}

// flagValues returns the values of a repeatable flag in args.
func flagValues(args []string, name string) []string {
	var out []string
	for i, a := range args {
		if a == name && i+1 < len(args) {
			out = append(out, strings.Split(args[i+1], ",")...)
		}
	}
	return out
}

// ---- Tests ------------------------------------------------------------------

func TestKustomizations(t *testing.T) {
	tag := defaultTag(t)
	for dir, kinds := range bases {
		k := readKustomization(t, dir)
		if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
			t.Errorf("%s: %s %s", dir, k.APIVersion, k.Kind)
		}
		checkResources(t, dir, k)
		if len(k.Images) != 1 || k.Images[0].NewName+":"+k.Images[0].NewTag != tag || k.Images[0].Name != k.Images[0].NewName {
			t.Errorf("%s: images %+v, want %s", dir, k.Images, tag)
		}
		var got []string
		for _, o := range readBase(t, dir) {
			got = append(got, o.kind)
		}
		if !slices.Equal(got, kinds) {
			t.Errorf("%s: kinds %q, want %q", dir, got, kinds)
		}
	}
}

func TestImages(t *testing.T) {
	tag := defaultTag(t)
	for _, w := range workloads(allObjects(t)) {
		for _, c := range containers(&w.pod.Spec) {
			if c.Image != tag {
				t.Errorf("%s %s: image %q, want %q (build/image's DefaultTag)", w.where, c.Name, c.Image, tag)
			}
			if c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("%s %s: imagePullPolicy %q, want IfNotPresent (a loaded tarball)", w.where, c.Name, c.ImagePullPolicy)
			}
		}
	}
}

// Capabilities: coredns exactly README.md's six, as nonroot; noderoute the
// least its mode needs; nothing privileged anywhere.
func TestSecurityContexts(t *testing.T) {
	six := readmeCaps(t)
	want := map[string][]string{
		"coredns":            six,
		"noderoute addr":     {"NET_ADMIN"},
		"noderoute register": nil,
		"noderoute route":    {"NET_ADMIN"},
	}
	seen := map[string]int{}
	for _, w := range workloads(allObjects(t)) {
		if w.pod.Spec.HostPID || w.pod.Spec.HostIPC {
			t.Errorf("%s: host PID/IPC namespace", w.where)
		}
		for _, c := range containers(&w.pod.Spec) {
			mode := runs(c)
			caps, ok := want[mode]
			if !ok {
				t.Errorf("%s %s runs %q", w.where, c.Name, mode)
				continue
			}
			seen[mode]++
			sc := c.SecurityContext
			if sc == nil || sc.Capabilities == nil {
				t.Errorf("%s %s: no capabilities set", w.where, c.Name)
				continue
			}
			var add []string
			for _, a := range sc.Capabilities.Add {
				add = append(add, string(a))
			}
			slices.Sort(add)
			if !slices.Equal(add, caps) {
				t.Errorf("%s %s (%s): adds %q, want %q", w.where, c.Name, mode, add, caps)
			}
			if len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
				t.Errorf("%s %s: drops %q, want [ALL]", w.where, c.Name, sc.Capabilities.Drop)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s %s: privileged", w.where, c.Name)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s %s: allowPrivilegeEscalation not false", w.where, c.Name)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s %s: root filesystem writable", w.where, c.Name)
			}
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					t.Errorf("%s %s: hostPort %d", w.where, c.Name, p.HostPort)
				}
			}
			if mode == "coredns" {
				if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != nonrootUID {
					t.Errorf("%s %s: want runAsNonRoot and runAsUser %d", w.where, c.Name, nonrootUID)
				}
				if w.pod.Spec.HostNetwork {
					t.Errorf("%s: coredns with hostNetwork; afxdp runs in the pod's own namespace", w.where)
				}
				var fwd bool
				if psc := w.pod.Spec.SecurityContext; psc != nil {
					for _, s := range psc.Sysctls {
						fwd = fwd || s.Name == "net.ipv6.conf.lo.forwarding" && s.Value == "1"
					}
				}
				if !fwd {
					t.Errorf("%s: no net.ipv6.conf.lo.forwarding=1 sysctl (afxdp's route check needs it)", w.where)
				}
			}
		}
	}
	for mode := range want {
		if seen[mode] == 0 {
			t.Errorf("no container runs %s", mode)
		}
	}
}

// corefile is a ConfigMap's Corefile and the pods that mount it.
type corefile struct {
	where string
	text  string
	pods  []workload
}

func corefiles(t *testing.T, dir string) []corefile {
	objs := readBase(t, dir)
	var out []corefile
	for _, cm := range all[corev1.ConfigMap](objs) {
		cf := corefile{where: dir + " ConfigMap " + cm.Name, text: cm.Data["Corefile"]}
		if cf.text == "" {
			t.Fatalf("%s: no Corefile", cf.where)
		}
		for _, w := range workloads(objs) {
			for _, v := range w.pod.Spec.Volumes {
				if v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
					cf.pods = append(cf.pods, w)
				}
			}
		}
		if len(cf.pods) == 0 {
			t.Errorf("%s: no pod mounts it", cf.where)
		}
		out = append(out, cf)
	}
	return out
}

// env gives the Corefiles' environment variables a value, as Kubernetes
// gives a pod the Services of its namespace.
func env(t *testing.T) {
	t.Setenv("KUBE_DNS_UPSTREAM_SERVICE_HOST", "10.96.0.11")
}

func parseCorefile(t *testing.T, cf corefile) []caddyfile.ServerBlock {
	t.Helper()
	blocks, err := caddyfile.Parse(cf.where, strings.NewReader(cf.text), append(slices.Clone(dnsserver.Directives), "afxdp"))
	if err != nil {
		t.Fatalf("%s: %v", cf.where, err)
	}
	return blocks
}

// directiveText turns a directive's tokens back into Corefile text.
func directiveText(toks []caddyfile.Token) string {
	var b strings.Builder
	line := toks[0].Line
	for i, tk := range toks {
		if tk.Line != line {
			b.WriteByte('\n')
			line = tk.Line
		} else if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(tk.Text)
	}
	return b.String()
}

// Every block has `afxdp eth0`; forward goes to no public resolver.
func TestCorefiles(t *testing.T) {
	env(t)
	for dir := range bases {
		for _, cf := range corefiles(t, dir) {
			for _, sb := range parseCorefile(t, cf) {
				// `afxdp eth0`, options allowed, no other interface.
				toks := sb.Tokens["afxdp"]
				if len(toks) < 2 || toks[1].Text != "eth0" ||
					(len(toks) > 2 && toks[2].Line == toks[0].Line && toks[2].Text != "{") {
					t.Errorf("%s %v: want `afxdp eth0`, have %q", cf.where, sb.Keys, directiveText(toks))
				}
				for _, tk := range sb.Tokens["forward"][1:] {
					a, err := netip.ParseAddr(strings.Split(tk.Text, ":")[0])
					if err != nil {
						continue
					}
					if !a.IsPrivate() && !a.IsLinkLocalUnicast() && !a.IsLoopback() {
						t.Errorf("%s %v: forward to %s, a public address", cf.where, sb.Keys, a)
					}
				}
			}
			for _, ip := range []string{"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "2001:4860:4860::8888", "2606:4700:4700::1111"} {
				if strings.Contains(cf.text, ip) {
					t.Errorf("%s mentions the public resolver %s", cf.where, ip)
				}
			}
		}
	}
}

// The Corefiles' directives through their plugins' own setup functions:
// CoreDNS's parsers for theirs (the kubernetes plugin's stanza parser,
// which needs no API server), afxdp's own setup for afxdp (it needs root
// and an eth0: it runs in a network namespace that has one).
func TestCorefileSetups(t *testing.T) {
	env(t)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	offline := []string{"errors", "health", "ready", "bind", "cache", "reload", "loop", "loadbalance", "forward"}
	for dir := range bases {
		for _, cf := range corefiles(t, dir) {
			for _, sb := range parseCorefile(t, cf) {
				for dirname, toks := range sb.Tokens {
					text := directiveText(toks)
					where := fmt.Sprintf("%s %v: %s", cf.where, sb.Keys, dirname)
					switch {
					case dirname == "kubernetes":
						if _, err := kubernetes.ParseStanza(caddy.NewTestController("dns", text)); err != nil {
							t.Errorf("%s: %v", where, err)
						}
					case dirname == "afxdp", dirname == "prometheus":
						// afxdp below; prometheus registers process-wide
						// state in its setup: its address is checked by
						// TestProbesAndPorts.
					case slices.Contains(offline, dirname):
						setup, err := caddy.DirectiveAction("dns", dirname)
						if err != nil {
							t.Fatalf("%s: %v", where, err)
						}
						text = strings.ReplaceAll(text, "/etc/resolv.conf", resolv)
						if err := setup(caddy.NewTestController("dns", text)); err != nil {
							t.Errorf("%s: %v", where, err)
						}
					default:
						t.Errorf("%s: no check for this plugin", where)
					}
				}
			}
		}
	}

	t.Run("afxdp", func(t *testing.T) {
		priv.Require(t)
		ns, peer := netns.New(t, "k8s"), netns.New(t, "k8sp")
		netns.Veth(t, ns, "eth0", peer, "veth0", 1)
		setup, err := caddy.DirectiveAction("dns", "afxdp")
		if err != nil {
			t.Fatal(err)
		}
		for dir := range bases {
			for _, cf := range corefiles(t, dir) {
				for _, sb := range parseCorefile(t, cf) {
					c := caddy.NewTestController("dns", directiveText(sb.Tokens["afxdp"]))
					cfg := dnsserver.GetConfig(c)
					cfg.Transport, cfg.Port = "dns", "53"
					if err := ns.Do(func() error { return setup(c) }); err != nil {
						t.Errorf("%s %v: afxdp: %v", cf.where, sb.Keys, err)
					}
				}
			}
		}
	})
}

// pluginPort is the port of a plugin's listener in a Corefile (e.g.
// `ready`, `ready :8181`, `health { ... }`), or def.
func pluginPort(t *testing.T, blocks []caddyfile.ServerBlock, plugin string, def int) int {
	t.Helper()
	port := 0
	for _, sb := range blocks {
		toks := sb.Tokens[plugin]
		if len(toks) == 0 {
			continue
		}
		p := def
		if len(toks) > 1 && toks[1].Line == toks[0].Line && toks[1].Text != "{" {
			_, ps, ok := strings.Cut(toks[1].Text, ":")
			n, err := strconv.Atoi(ps)
			if !ok || err != nil {
				t.Fatalf("%s %s: no port", plugin, toks[1].Text)
			}
			p = n
		}
		if port != 0 && port != p {
			t.Fatalf("%s on ports %d and %d", plugin, port, p)
		}
		port = p
	}
	if port == 0 {
		t.Fatalf("no %s in the Corefile", plugin)
	}
	return port
}

// Probes point at the health and ready plugins' ports, the ports declared
// are DNS's and prometheus's, and health has a lameduck.
func TestProbesAndPorts(t *testing.T) {
	env(t)
	for dir := range bases {
		for _, cf := range corefiles(t, dir) {
			blocks := parseCorefile(t, cf)
			ready := pluginPort(t, blocks, "ready", 8181)
			health := pluginPort(t, blocks, "health", 8080)
			metrics := pluginPort(t, blocks, "prometheus", 9153)
			if !strings.Contains(cf.text, "lameduck") {
				t.Errorf("%s: health without lameduck", cf.where)
			}
			for _, w := range cf.pods {
				for _, c := range containers(&w.pod.Spec) {
					if runs(c) != "coredns" {
						continue
					}
					port := func(p *corev1.Probe) (string, int) {
						if p == nil || p.HTTPGet == nil {
							return "", 0
						}
						if p.HTTPGet.Port.IntValue() != 0 {
							return p.HTTPGet.Path, p.HTTPGet.Port.IntValue()
						}
						for _, cp := range c.Ports {
							if cp.Name == p.HTTPGet.Port.String() {
								return p.HTTPGet.Path, int(cp.ContainerPort)
							}
						}
						return p.HTTPGet.Path, -1
					}
					if path, p := port(c.ReadinessProbe); path != "/ready" || p != ready {
						t.Errorf("%s %s: readiness probe %s on %d, want /ready on %d", w.where, c.Name, path, p, ready)
					}
					if path, p := port(c.LivenessProbe); path != "/health" || p != health {
						t.Errorf("%s %s: liveness probe %s on %d, want /health on %d", w.where, c.Name, path, p, health)
					}
					want := map[string]bool{"53/UDP": true, "53/TCP": true, fmt.Sprintf("%d/TCP", metrics): true,
						fmt.Sprintf("%d/TCP", ready): true, fmt.Sprintf("%d/TCP", health): true}
					for _, cp := range c.Ports {
						k := fmt.Sprintf("%d/%s", cp.ContainerPort, cp.Protocol)
						if !want[k] {
							t.Errorf("%s %s: port %s", w.where, c.Name, k)
						}
						delete(want, k)
					}
					if len(want) > 0 {
						t.Errorf("%s %s: ports %v not declared", w.where, c.Name, want)
					}
				}
			}
		}
	}
}

func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(l))
}

func TestClusterDNS(t *testing.T) {
	objs := readBase(t, "cluster-dns")
	d := one[appsv1.Deployment](t, objs)
	svc := one[corev1.Service](t, objs)
	pdb := one[policyv1.PodDisruptionBudget](t, objs)
	tmpl := d.Spec.Template.Labels
	if d.Namespace != "kube-system" || d.Name != "coredns" || tmpl["k8s-app"] != "kube-dns" {
		t.Errorf("Deployment %s/%s with pod labels %v: want kube-system/coredns, k8s-app=kube-dns", d.Namespace, d.Name, tmpl)
	}
	if !selects(t, d.Spec.Selector, tmpl) {
		t.Error("the Deployment's selector does not select its pods")
	}
	if svc.Name != "kube-dns" || svc.Namespace != "kube-system" || !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, tmpl) {
		t.Errorf("Service %s/%s selector %v: want kube-system/kube-dns selecting the Deployment's pods", svc.Namespace, svc.Name, svc.Spec.Selector)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%d/%s->%s", p.Port, p.Protocol, p.TargetPort.String()))
	}
	if !slices.Contains(ports, "53/UDP->53") || !slices.Contains(ports, "53/TCP->53") {
		t.Errorf("Service ports %q", ports)
	}
	if !selects(t, pdb.Spec.Selector, tmpl) {
		t.Error("the PodDisruptionBudget does not select the Deployment's pods")
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("the PodDisruptionBudget allows nothing")
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil ||
		ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge == nil || ru.MaxSurge.IntValue() < 1 {
		t.Errorf("strategy %+v: want a rolling update with maxUnavailable 0 and a surge", d.Spec.Strategy)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Error("fewer than 2 replicas")
	}
	// RBAC: the pods' account is bound to the kubernetes plugin's role.
	sa := one[corev1.ServiceAccount](t, objs)
	crb := one[rbacv1.ClusterRoleBinding](t, objs)
	cr := one[rbacv1.ClusterRole](t, objs)
	if d.Spec.Template.Spec.ServiceAccountName != sa.Name || crb.RoleRef.Name != cr.Name ||
		len(crb.Subjects) != 1 || crb.Subjects[0].Name != sa.Name || crb.Subjects[0].Namespace != sa.Namespace {
		t.Error("the ServiceAccount, ClusterRole and ClusterRoleBinding do not connect")
	}
	var slices_ bool
	for _, r := range cr.Rules {
		slices_ = slices_ || slices.Contains(r.Resources, "endpointslices") && slices.Contains(r.Verbs, "watch")
	}
	if !slices_ {
		t.Error("the ClusterRole cannot watch endpointslices")
	}
}

func TestNodeLocal(t *testing.T) {
	env(t)
	objs := readBase(t, "node-local")
	var dns, router *appsv1.DaemonSet
	for _, ds := range all[appsv1.DaemonSet](objs) {
		if ds.Spec.Template.Spec.HostNetwork {
			router = ds
		} else {
			dns = ds
		}
		if !selects(t, ds.Spec.Selector, ds.Spec.Template.Labels) {
			t.Errorf("%s: the selector does not select its pods", ds.Name)
		}
		if ds.Spec.Template.Spec.PriorityClassName != "system-node-critical" {
			t.Errorf("%s: priority class %q", ds.Name, ds.Spec.Template.Spec.PriorityClassName)
		}
		tolerated := map[corev1.TaintEffect]bool{}
		for _, tol := range ds.Spec.Template.Spec.Tolerations {
			if tol.Operator == corev1.TolerationOpExists && tol.Key == "" {
				if tol.Effect == "" {
					tolerated[corev1.TaintEffectNoSchedule], tolerated[corev1.TaintEffectNoExecute] = true, true
				}
				tolerated[tol.Effect] = true
			}
		}
		if !tolerated[corev1.TaintEffectNoSchedule] || !tolerated[corev1.TaintEffectNoExecute] {
			t.Errorf("%s: does not tolerate every NoSchedule and NoExecute taint", ds.Name)
		}
	}
	if dns == nil || router == nil {
		t.Fatal("want a DNS DaemonSet and a hostNetwork router DaemonSet")
	}
	// The DNS pods: surge, and time for the router to see the new one.
	ru := dns.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge == nil || ru.MaxSurge.IntValue() < 1 {
		t.Errorf("%s: update strategy %+v, want maxUnavailable 0 with a surge", dns.Name, dns.Spec.UpdateStrategy)
	}
	if dns.Spec.MinReadySeconds < 5 {
		t.Errorf("%s: minReadySeconds %d leaves the router no time to move the address", dns.Name, dns.Spec.MinReadySeconds)
	}
	// hostNetwork with surge would need ports undeclared (KEP-1591); the
	// router declares none and has no surge.
	for _, c := range router.Spec.Template.Spec.Containers {
		if len(c.Ports) > 0 {
			t.Errorf("%s %s: declares ports on the host network", router.Name, c.Name)
		}
	}

	// Who does what, in which order.
	spec := &dns.Spec.Template.Spec
	var order []string
	for _, c := range spec.InitContainers {
		mode := runs(&c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			mode += " (sidecar)"
		}
		order = append(order, mode)
	}
	if want := []string{"noderoute addr", "noderoute register (sidecar)"}; !slices.Equal(order, want) {
		t.Errorf("%s: init containers %q, want %q", dns.Name, order, want)
	}
	reg := &spec.InitContainers[1]
	fields := map[string]string{}
	for _, e := range reg.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			fields[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if want := map[string]string{"POD_UID": "metadata.uid", "POD_NAME": "metadata.name", "POD_IPS": "status.podIPs"}; fmt.Sprint(fields) != fmt.Sprint(want) {
		t.Errorf("register's downward API %v, want %v", fields, want)
	}

	// The registration directory: one hostPath, mounted where -dir says.
	dirOf := func(ds *appsv1.DaemonSet, c *corev1.Container) {
		t.Helper()
		d := flagValues(c.Command, "-dir")
		var vol string
		for _, m := range c.VolumeMounts {
			if len(d) == 1 && m.MountPath == d[0] {
				vol = m.Name
			}
		}
		var path string
		for _, v := range ds.Spec.Template.Spec.Volumes {
			if v.Name == vol && v.HostPath != nil {
				path = v.HostPath.Path
			}
		}
		if len(d) != 1 || path != nodeLocalDir {
			t.Errorf("%s %s: -dir %q on hostPath %q, want %s", ds.Name, c.Name, d, path, nodeLocalDir)
		}
	}
	dirOf(dns, reg)
	dirOf(router, &router.Spec.Template.Spec.Containers[0])

	// One set of node-local addresses: the Corefile's bind lines, the
	// address the pod adds, the addresses the router routes.
	cfs := corefiles(t, "node-local")
	var bound []string
	for _, sb := range parseCorefile(t, cfs[0]) {
		var b []string
		for _, tk := range sb.Tokens["bind"][1:] {
			b = append(b, tk.Text)
		}
		if len(b) == 0 {
			t.Errorf("%v: no bind: the block would serve every address of eth0", sb.Keys)
		}
		if bound != nil && !slices.Equal(b, bound) {
			t.Errorf("%v binds %q, another block %q: one listener wanted", sb.Keys, b, bound)
		}
		bound = b
	}
	added := flagValues(spec.InitContainers[0].Command, "-addr")
	routed := flagValues(router.Spec.Template.Spec.Containers[0].Command, "-addr")
	if !slices.Equal(added, bound) || !slices.Equal(routed, bound) {
		t.Errorf("addresses: Corefile binds %q, the pod adds %q, the router routes %q", bound, added, routed)
	}
	if !slices.Contains(bound, "169.254.20.10") {
		t.Errorf("node-local addresses %q lack 169.254.20.10", bound)
	}
	if p := flagValues(router.Spec.Template.Spec.Containers[0].Command, "-ready-port"); len(p) != 1 ||
		p[0] != strconv.Itoa(pluginPort(t, parseCorefile(t, cfs[0]), "ready", 8181)) {
		t.Errorf("the router probes port %q, the pods' ready plugin listens elsewhere", p)
	}

	// Cache misses for the cluster's zones go to kube-dns-upstream, whose
	// Service environment variable the Corefile reads, and which selects
	// the cluster DNS pods.
	up := one[corev1.Service](t, objs)
	envName := strings.ToUpper(strings.ReplaceAll(up.Name, "-", "_")) + "_SERVICE_HOST"
	if !strings.Contains(cfs[0].text, "{$"+envName+"}") {
		t.Errorf("the Corefile does not forward to {$%s}", envName)
	}
	clusterPods := one[appsv1.Deployment](t, readBase(t, "cluster-dns")).Spec.Template.Labels
	if !selects(t, &metav1.LabelSelector{MatchLabels: up.Spec.Selector}, clusterPods) {
		t.Errorf("Service %s does not select the cluster DNS pods", up.Name)
	}
	if up.Namespace != dns.Namespace {
		t.Errorf("Service %s is not in the pods' namespace: they get no environment variable for it", up.Name)
	}
}
