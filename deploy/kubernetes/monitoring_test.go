package kubernetes

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// The committed monitoring files are what `go generate` makes of their
// sources: edit deploy/prometheus and deploy/grafana, then regenerate.
func TestMonitoringGenerated(t *testing.T) {
	files, err := Generate(".")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what its sources make: run go generate ./deploy/kubernetes", name)
		}
	}
}

func TestMonitoringBase(t *testing.T) {
	k := readKustomization(t, "monitoring")
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("monitoring: %s %s", k.APIVersion, k.Kind)
	}
	checkResources(t, "monitoring", k)
	if len(k.Images) != 0 {
		t.Errorf("monitoring: images %+v: it runs no image", k.Images)
	}
	var kinds []string
	for _, o := range readBase(t, "monitoring") {
		kinds = append(kinds, o.kind)
	}
	if want := []string{"ConfigMap", "PodMonitor", "PrometheusRule"}; !slices.Equal(kinds, want) {
		t.Errorf("monitoring: kinds %q, want %q", kinds, want)
	}
}

// The PodMonitor selects the coredns pods of both bases (and not
// noderoute's), in their namespace, on a port they declare by that name,
// which is their Corefile's prometheus port.
func TestPodMonitor(t *testing.T) {
	env(t)
	pm := one[monitoringv1.PodMonitor](t, readBase(t, "monitoring"))
	if len(pm.Spec.PodMetricsEndpoints) == 0 {
		t.Fatal("no podMetricsEndpoints")
	}
	var selected []string
	for _, dir := range []string{"cluster-dns", "node-local"} {
		cfs := corefiles(t, dir)
		metrics := pluginPort(t, parseCorefile(t, cfs[0]), "prometheus", 9153)
		for _, o := range readBase(t, dir) {
			var meta metav1.ObjectMeta
			var pod *corev1.PodTemplateSpec
			switch v := o.obj.(type) {
			case *appsv1.Deployment:
				meta, pod = v.ObjectMeta, &v.Spec.Template
			case *appsv1.DaemonSet:
				meta, pod = v.ObjectMeta, &v.Spec.Template
			default:
				continue
			}
			w, ns := workload{where: o.where + " " + meta.Name, pod: pod}, meta.Namespace
			var coredns *corev1.Container
			for _, c := range w.pod.Spec.Containers {
				if runs(&c) == "coredns" {
					coredns = &c
				}
			}
			sel := selects(t, &pm.Spec.Selector, w.pod.Labels)
			if coredns == nil {
				if sel {
					t.Errorf("%s: runs no coredns but the PodMonitor selects it", w.where)
				}
				continue
			}
			if !sel {
				t.Errorf("%s: the PodMonitor's selector does not select its pods (labels %v)", w.where, w.pod.Labels)
				continue
			}
			selected = append(selected, dir)
			nsSel := pm.Spec.NamespaceSelector
			if !nsSel.Any && !slices.Contains(nsSel.MatchNames, ns) && !(len(nsSel.MatchNames) == 0 && pm.Namespace == ns) {
				t.Errorf("%s: in namespace %s, which the PodMonitor's namespaceSelector %+v leaves out", w.where, ns, nsSel)
			}
			if pm.Spec.JobLabel != "" && w.pod.Labels[pm.Spec.JobLabel] == "" {
				t.Errorf("%s: no label %s for the job", w.where, pm.Spec.JobLabel)
			}
			for _, ep := range pm.Spec.PodMetricsEndpoints {
				if ep.Port == nil || ep.PortNumber != nil || ep.TargetPort != nil {
					t.Errorf("endpoint %+v: want a port by name", ep)
					continue
				}
				var port int32
				for _, cp := range coredns.Ports {
					if cp.Name == *ep.Port {
						port = cp.ContainerPort
					}
				}
				if int(port) != metrics {
					t.Errorf("%s %s: port %q is %d, the Corefile's prometheus listens on %d", w.where, coredns.Name, *ep.Port, port, metrics)
				}
			}
		}
	}
	if !slices.Equal(selected, []string{"cluster-dns", "node-local"}) {
		t.Errorf("the PodMonitor selects coredns pods of %q, want both bases", selected)
	}
}

// The PrometheusRule's groups are deploy/prometheus's, both decoded
// strictly into the operator's RuleGroup.
func TestPrometheusRule(t *testing.T) {
	pr := one[monitoringv1.PrometheusRule](t, readBase(t, "monitoring"))
	b, err := os.ReadFile(AlertsSource)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	if err := sigsyaml.UnmarshalStrict(b, &file); err != nil {
		t.Fatalf("%s: %v", AlertsSource, err)
	}
	if len(file.Groups) == 0 || len(file.Groups[0].Rules) == 0 {
		t.Fatalf("%s: no rules", AlertsSource)
	}
	if !reflect.DeepEqual(pr.Spec.Groups, file.Groups) {
		t.Errorf("the PrometheusRule's groups differ from %s's", AlertsSource)
	}
}

// The dashboard ConfigMap carries deploy/grafana's JSON byte for byte,
// labelled for Grafana's sidecar.
func TestDashboardConfigMap(t *testing.T) {
	cm := one[corev1.ConfigMap](t, readBase(t, "monitoring"))
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap %s: labels %v, want grafana_dashboard: \"1\"", cm.Name, cm.Labels)
	}
	want, err := os.ReadFile(DashboardSource)
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != 1 || cm.Data[DashboardKey] != string(want) {
		t.Errorf("ConfigMap %s: data keys %d, %s not byte-equal to %s", cm.Name, len(cm.Data), DashboardKey, DashboardSource)
	}
}

// readTree reads every file under dir by its relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// `make k8s`'s writer: a tarball from build/image (dummy binaries), its
// pinned name, the bases written twice with the same bytes, every image
// in them the pinned name and nothing else changed.
func TestWriteK8s(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run build/image")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "dummy")
	if err := os.WriteFile(bin, []byte("a dummy binary, not ELF: build/image takes it as it is\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(tmp, "image.tar")
	cmd := exec.Command(goTool, "run", "github.com/afxdp/afxdp/build/image", "-coredns", bin, "-noderoute", bin, "-o", tarball)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build/image: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`image ID sha256:([0-9a-f]{64})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("build/image printed no image ID:\n%s", out)
	}
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	image, err := PinnedImage(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := defaultTag(t) + "-" + string(m[1][:12]); image != want {
		t.Fatalf("pinned image %q, want %q (DefaultTag, the image ID's first 12 hex digits)", image, want)
	}

	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	for _, dir := range []string{a, b, a} { // a again: over its own output
		if err := Write(".", dir, image); err != nil {
			t.Fatal(err)
		}
	}
	ta, tb := readTree(t, a), readTree(t, b)
	if !reflect.DeepEqual(ta, tb) {
		t.Error("two writes of the same tarball differ")
	}
	name, tag := splitRef(image)
	_, defTag := splitRef(defaultTag(t))
	for rel, got := range ta {
		// Nothing else changed: put the default back, and it is the source.
		src, err := os.ReadFile(rel)
		if err != nil {
			t.Errorf("%s: written, not in deploy/kubernetes: %v", rel, err)
			continue
		}
		back := strings.ReplaceAll(string(got), image, defaultTag(t))
		back = strings.ReplaceAll(back, "newTag: "+tag, "newTag: "+defTag)
		if back != string(src) {
			t.Errorf("%s: the written file differs from the source in more than the image", rel)
		}
	}
	for _, base := range Bases {
		dir := filepath.Join(a, base)
		k := readKustomization(t, dir)
		checkResources(t, dir, k)
		for _, im := range k.Images {
			if im.Name != name || im.NewName+":"+im.NewTag != image {
				t.Errorf("%s: images entry %+v, want %s as %s", dir, im, name, image)
			}
		}
		n := 0
		for _, w := range workloads(readBase(t, dir)) {
			for _, c := range containers(&w.pod.Spec) {
				n++
				if c.Image != image {
					t.Errorf("%s %s: image %q, want %q", w.where, c.Name, c.Image, image)
				}
			}
		}
		if base != "monitoring" && (n == 0 || len(k.Images) != 1) {
			t.Errorf("%s: %d containers, %d images entries", dir, n, len(k.Images))
		}
	}
	if len(ta) != func() int {
		n := 0
		for _, base := range Bases {
			n += 1 + len(readKustomization(t, base).Resources)
		}
		return n
	}() {
		t.Errorf("wrote %d files, the bases have other numbers", len(ta))
	}
}
