package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/afxdp/afxdp/internal/priv"
	docs "github.com/afxdp/afxdp/internal/readme"
)

// The files under test, relative to this package's directory (go test's
// working directory).
const (
	unitFile      = "systemd/coredns-afxdp.service"
	sysusersFile  = "systemd/coredns-afxdp.sysusers.conf"
	alertsFile    = "prometheus/afxdp-alerts.yml"
	alertsTest    = "prometheus/afxdp-alerts.test.yml"
	dashboardFile = "grafana/afxdp-dashboard.json"

	// Where the metrics are defined, and where their label values come from.
	pluginDir = "../plugin/afxdp"
	bpfDir    = "../bpf"
	readme    = "../README.md"

	unitBinary = "/usr/local/bin/coredns" // ExecStart's binary
	unitUser   = "coredns"
)

// metricRE finds the plugin's metric names in an expression.
var metricRE = regexp.MustCompile(`\bcoredns_afxdp_[a-zA-Z0-9_]+`)

// labelRE finds matchers on the labels whose values the plugin fixes.
var labelRE = regexp.MustCompile(`\b(reason|event|tier|mode)\s*(=~|!~|!=|=)\s*"([^"]*)"`)

// ---- The plugin's sources ---------------------------------------------------

// goFiles parses the non-test Go files under dir.
func goFiles(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return fset, files
}

func stringLit(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}

func isBuildFQName(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "BuildFQName" && len(c.Args) == 3
}

// exportedMetrics reads the names of the plugin's metrics from its sources,
// as the code defines them (namespace coredns, subsystem afxdp), without
// importing the package: a prometheus.*Opts literal with Subsystem "afxdp"
// and a Name, prometheus.BuildFQName(_, "afxdp", "name"), or a call with a
// literal name to a helper that hands its parameter to
// BuildFQName(_, "afxdp", param) (metrics.go's desc).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	_, files := goFiles(t, pluginDir)
	names := map[string]bool{}
	add := func(n string) { names["coredns_afxdp_"+n] = true }

	helpers := map[string]int{} // function name: index of the name parameter
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			var params []string
			for _, p := range fd.Type.Params.List {
				for _, n := range p.Names {
					params = append(params, n.Name)
				}
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok || !isBuildFQName(c) {
					return true
				}
				if sub, ok := stringLit(c.Args[1]); !ok || sub != "afxdp" {
					return true
				}
				if id, ok := c.Args[2].(*ast.Ident); ok {
					if i := slices.Index(params, id.Name); i >= 0 {
						helpers[fd.Name.Name] = i
					}
				}
				return true
			})
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if isBuildFQName(n) {
					sub, ok1 := stringLit(n.Args[1])
					name, ok2 := stringLit(n.Args[2])
					if ok1 && ok2 && sub == "afxdp" {
						add(name)
					}
					return true
				}
				if id, ok := n.Fun.(*ast.Ident); ok {
					if i, ok := helpers[id.Name]; ok && i < len(n.Args) {
						if name, ok := stringLit(n.Args[i]); ok {
							add(name)
						}
					}
				}
			case *ast.CompositeLit:
				var sub, name string
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					k, ok := kv.Key.(*ast.Ident)
					if !ok {
						continue
					}
					switch k.Name {
					case "Subsystem":
						sub, _ = stringLit(kv.Value)
					case "Name":
						name, _ = stringLit(kv.Value)
					}
				}
				if sub == "afxdp" && name != "" {
					add(name)
				}
			}
			return true
		})
	}
	// The scan must find what the plugin's README lists; far fewer means the
	// way metrics are defined changed and this scan needs to follow it.
	if len(names) < 20 || !names["coredns_afxdp_queues"] || !names["coredns_afxdp_handovers_total"] {
		t.Fatalf("found only %d metric definitions in %s (%v): has the way they are defined changed?",
			len(names), pluginDir, sortedKeys(names))
	}
	return names
}

// sourceStrings is every string literal of the plugin's and the XDP
// loader's code: the label values (reasons, events, tiers, modes) are among
// them.
func sourceStrings(t *testing.T) map[string]bool {
	t.Helper()
	lits := map[string]bool{}
	for _, dir := range []string{pluginDir, bpfDir} {
		_, files := goFiles(t, dir)
		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				if s, ok := stringLit(asExpr(n)); ok {
					lits[s] = true
				}
				return true
			})
		}
	}
	return lits
}

func asExpr(n ast.Node) ast.Expr {
	e, _ := n.(ast.Expr)
	return e
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkExpr reports the coredns_afxdp_* names in expr that the plugin does
// not define, and label values of reason, event, tier and mode that its
// sources never spell. It returns the names it found.
func checkExpr(t *testing.T, where, expr string, exported, lits map[string]bool) []string {
	t.Helper()
	names := metricRE.FindAllString(expr, -1)
	for _, n := range names {
		if !exported[n] {
			t.Errorf("%s: %s is not a metric the plugin exports (defined in %s/*.go: %v)", where, n, pluginDir, sortedKeys(exported))
		}
	}
	for _, m := range labelRE.FindAllStringSubmatch(expr, -1) {
		label, op, value := m[1], m[2], m[3]
		values := []string{value}
		if op == "=~" || op == "!~" {
			values = strings.Split(value, "|")
		}
		for _, v := range values {
			if !regexp.MustCompile(`^[a-z0-9_]+$`).MatchString(v) {
				t.Errorf("%s: %s%s%q: keep label matchers to plain alternatives (a|b) so that this test can check each value", where, label, op, value)
				continue
			}
			if !lits[v] {
				t.Errorf("%s: %s value %q appears nowhere in the plugin's sources (%s, %s): not a value it exports", where, label, v, pluginDir, bpfDir)
			}
		}
	}
	return names
}

// ---- Prometheus rules ---------------------------------------------------------

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return rf
}

// TestAlertMetrics: every metric an alert reads is one the plugin exports,
// with label values it exports, and every alert says how bad it is and what
// it means.
func TestAlertMetrics(t *testing.T) {
	exported, lits := exportedMetrics(t), sourceStrings(t)
	rf := readRules(t)
	seen := map[string]bool{}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			where := fmt.Sprintf("%s: alert %s", alertsFile, r.Alert)
			if r.Alert == "" {
				t.Errorf("%s: group %s has a rule that is not an alert (record %q)", alertsFile, g.Name, r.Record)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("%s: defined twice", where)
			}
			seen[r.Alert] = true
			if len(checkExpr(t, where, r.Expr, exported, lits)) == 0 {
				t.Errorf("%s: reads no coredns_afxdp_* metric", where)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: no rules", alertsFile)
	}
}

// ---- Grafana dashboard -------------------------------------------------------

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Datasource *datasource `json:"datasource"`
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// dashboardExpr is one query of the dashboard.
type dashboardExpr struct {
	where, expr string
}

func readDashboard(t *testing.T) (dashboard, []panel) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, all
}

func dashboardExprs(t *testing.T) []dashboardExpr {
	t.Helper()
	_, panels := readDashboard(t)
	var out []dashboardExpr
	for _, p := range panels {
		for _, tg := range p.Targets {
			out = append(out, dashboardExpr{fmt.Sprintf("%s: panel %q, query %s", dashboardFile, p.Title, tg.RefID), tg.Expr})
		}
	}
	return out
}

// The dashboard's panels read these; a panel of the list in README.md's
// "Deploying" that loses its metric fails here.
var dashboardMetrics = []string{
	"coredns_afxdp_xdp_answered_total", "coredns_afxdp_hot_hits_total", "coredns_afxdp_tx_frames_total", // answers by path
	"coredns_afxdp_dropped_total", "coredns_afxdp_xdp_dropped_total", // drops
	"coredns_afxdp_xdp_passed_total", "coredns_afxdp_xdp_redirected_total", "coredns_afxdp_route_errors_total", // passes, route check
	"coredns_afxdp_handovers_total", "coredns_afxdp_handoffs_total", // handovers
	"coredns_afxdp_xsk_rx_ring_full_total", "coredns_afxdp_xsk_rx_fill_ring_empty_total", // rings
	"process_cpu_seconds_total", // CPU
}

// TestDashboard: valid JSON, a recent schema, every query through the
// ${DS_PROMETHEUS} variable, every coredns_afxdp_* name and label value one
// the plugin exports.
func TestDashboard(t *testing.T) {
	exported, lits := exportedMetrics(t), sourceStrings(t)
	d, panels := readDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("%s: schemaVersion %d, want 36 or later (Grafana 9+)", dashboardFile, d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: no uid or title", dashboardFile)
	}
	const ds = "${DS_PROMETHEUS}"
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "DS_PROMETHEUS" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			hasDS = true
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != ds) {
			t.Errorf("%s: variable %s: datasource %+v, want uid %s", dashboardFile, v.Name, v.Datasource, ds)
		}
	}
	if !hasDS {
		t.Errorf("%s: no templating variable DS_PROMETHEUS of type datasource (query prometheus)", dashboardFile)
	}
	ids := map[int]string{}
	used := map[string]bool{}
	for _, p := range panels {
		where := fmt.Sprintf("%s: panel %q", dashboardFile, p.Title)
		if prev, ok := ids[p.ID]; ok || p.ID == 0 {
			t.Errorf("%s: id %d not unique (also %q)", where, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("%s: no gridPos", where)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != ds {
			t.Errorf("%s: datasource %+v, want uid %s", where, p.Datasource, ds)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != ds {
				t.Errorf("%s, query %s: datasource %+v, want uid %s", where, tg.RefID, tg.Datasource, ds)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s, query %s: empty", where, tg.RefID)
			}
			for _, n := range checkExpr(t, fmt.Sprintf("%s, query %s", where, tg.RefID), tg.Expr, exported, lits) {
				used[n] = true
			}
			if strings.Contains(tg.Expr, "process_cpu_seconds_total") {
				used["process_cpu_seconds_total"] = true
			}
		}
	}
	for _, m := range dashboardMetrics {
		if !used[m] {
			t.Errorf("%s: no panel reads %s", dashboardFile, m)
		}
	}
}

// ---- The tools ---------------------------------------------------------------

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPromtool: the rules load, their unit tests pass, and every dashboard
// query parses as PromQL (as a recording rule, with the dashboard's
// variables filled in).
func TestPromtool(t *testing.T) {
	promtool := priv.Tool(t, "promtool", "prometheus")
	t.Log(run(t, promtool, "check", "rules", alertsFile))
	t.Log(run(t, promtool, "test", "rules", alertsTest))

	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*", "$instance", ".*", "$interface", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	exprs := dashboardExprs(t)
	for i, e := range exprs {
		q, _ := json.Marshal(vars.Replace(e.expr)) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: afxdp_dashboard_query_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		for i, e := range exprs {
			if strings.Contains(string(out), fmt.Sprintf("afxdp_dashboard_query_%d\"", i)) {
				t.Errorf("%s does not parse: %s", e.where, e.expr)
			}
		}
		t.Fatalf("promtool check rules on the dashboard's %d queries: %v\n%s", len(exprs), err, out)
	}
}

// unit reads the unit file's settings: key to values, in order (comments
// and sections dropped; a key given twice keeps both).
func unit(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is no key=value", unitFile, line)
			continue
		}
		kv[k] = append(kv[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kv
}

// readmeCaps is the capability table of README.md's quick start.
func readmeCaps(t *testing.T) []string {
	t.Helper()
	caps, err := docs.Caps(readme)
	if err != nil {
		t.Fatal(err)
	}
	return caps
}

// TestUnitSettings: the unit grants exactly README.md's capabilities, lets
// the socket families afxdp uses through, and runs as its own user.
func TestUnitSettings(t *testing.T) {
	kv := unit(t)
	want := readmeCaps(t)
	for _, k := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		if len(kv[k]) != 1 {
			t.Errorf("%s: %s given %d times, want once", unitFile, k, len(kv[k]))
			continue
		}
		got := strings.Fields(kv[k][0])
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s=%s, want README.md's table: %s", unitFile, k, kv[k][0], strings.Join(want, " "))
		}
	}
	fams := strings.Fields(strings.Join(kv["RestrictAddressFamilies"], " "))
	for _, f := range []string{"AF_XDP", "AF_NETLINK", "AF_INET", "AF_INET6", "AF_UNIX"} {
		if !slices.Contains(fams, f) {
			t.Errorf("%s: RestrictAddressFamilies=%v lacks %s", unitFile, fams, f)
		}
	}
	if u := kv["User"]; len(u) != 1 || u[0] != unitUser {
		t.Errorf("%s: User=%v, want %s", unitFile, u, unitUser)
	}
	if e := kv["ExecStart"]; len(e) != 1 || !strings.HasPrefix(e[0], unitBinary+" -conf /etc/coredns/Corefile") {
		t.Errorf("%s: ExecStart=%v, want %s -conf /etc/coredns/Corefile ...", unitFile, e, unitBinary)
	}
	// The settings that would break afxdp (see the unit's comments).
	for _, k := range []string{"ProtectKernelTunables", "PrivateNetwork", "PrivateUsers", "DynamicUser", "ProcSubset"} {
		if v, ok := kv[k]; ok {
			t.Errorf("%s: %s=%v breaks afxdp", unitFile, k, v)
		}
	}
}

// TestSystemdVerify: systemd-analyze verify accepts the unit (its binary
// replaced by a stub, which verify needs to exist), and systemd-sysusers
// accepts the user's definition.
func TestSystemdVerify(t *testing.T) {
	analyze := priv.Tool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	bin := filepath.Join(dir, "coredns")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(unitBinary)) {
		t.Fatalf("%s does not run %s", unitFile, unitBinary)
	}
	path := filepath.Join(dir, filepath.Base(unitFile))
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(unitBinary), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
	// Warnings about the unit fail the test; other units' (the system's
	// own, loaded as dependencies) are only shown.
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case line == "":
		case strings.Contains(line, filepath.Base(unitFile)) || strings.Contains(line, dir):
			t.Errorf("systemd-analyze verify %s: %s", unitFile, line)
		default:
			t.Logf("systemd-analyze verify (not about this unit): %s", line)
		}
	}

	sysusers := priv.Tool(t, "systemd-sysusers", "systemd")
	conf, err := os.ReadFile(sysusersFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sysusers, "--dry-run", "--root="+t.TempDir(), "-")
	cmd.Stdin = bytes.NewReader(conf)
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-sysusers --dry-run %s: %v\n%s", sysusersFile, err, out)
	}
	if !strings.Contains(string(out), "Creating user '"+unitUser+"'") {
		t.Errorf("systemd-sysusers --dry-run %s does not create user %s:\n%s", sysusersFile, unitUser, out)
	}
}
