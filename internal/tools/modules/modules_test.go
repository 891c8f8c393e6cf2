package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

var testLine = []string{"-core", "v1.71.0", "-line", "v0.165.0"}

// copyTree copies a testdata tree into a temp folder, so a test can break
// one file of it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func runModules(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestLineCheckPassesOnTheLine(t *testing.T) {
	code, stdout, stderr := runModules(append([]string{"line", "-root", "testdata/line/ok"}, testLine...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	// 2 + 2 collector requires, 2 + 2 manifest lines; otelhttp
	// (OpenTelemetry-Go contrib) is not a collector module; the tools module
	// is skipped; the agent's loadbalancing exporter is excepted.
	for _, want := range []string{
		"8 collector module versions in 2 modules and their ocb manifests, all on core v1.71.0 / v0.165.0 but the 1 excepted",
		"skipped tools module internal/tools",
		"agent/builder-config.yaml:2 excepts github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter v0.160.0: the newest version served here",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

// TestLineCheckFailsOnAStray breaks one file of a tree on the line at a time
// and expects the check to fail naming the file, the line, the module and
// the version it wants.
func TestLineCheckFailsOnAStray(t *testing.T) {
	for _, tc := range []struct {
		name, file, old, new string
		want                 []string
	}{
		{
			name: "stable module one release behind",
			file: "a/go.mod", old: "pdata v1.71.0", new: "pdata v1.70.0",
			want: []string{
				"FAIL: a/go.mod:7: go.opentelemetry.io/collector/pdata v1.70.0 strays off the collector line (want v1.71.0)",
				"FAIL: modules disagree on go.opentelemetry.io/collector/pdata: v1.71.0 in go.mod:7, v1.70.0 in a/go.mod:7",
			},
		},
		{
			name: "unstable module one release ahead",
			file: "go.mod", old: "processorhelper v0.165.0", new: "processorhelper v0.166.0",
			want: []string{"FAIL: go.mod:8: go.opentelemetry.io/collector/processor/processorhelper v0.166.0 strays off the collector line (want v0.165.0)"},
		},
		{
			name: "contrib patch release",
			file: "a/go.mod", old: "sampling v0.165.0", new: "sampling v0.165.1",
			want: []string{"FAIL: a/go.mod:6: github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling v0.165.1 strays off the collector line (want v0.165.0)"},
		},
		{
			name: "replace to another version",
			file: "go.mod", old: "replace example.com/dist/a => ./a", new: "replace go.opentelemetry.io/collector/pdata => go.opentelemetry.io/collector/pdata v1.69.0",
			want: []string{"FAIL: go.mod:13: go.opentelemetry.io/collector/pdata v1.69.0 strays off the collector line (want v1.71.0)"},
		},
		{
			name: "ocb manifest",
			file: "manifest.yaml", old: "otlpreceiver v0.165.0", new: "otlpreceiver v0.164.0",
			want: []string{"FAIL: manifest.yaml:4: go.opentelemetry.io/collector/receiver/otlpreceiver v0.164.0 strays off the collector line (want v0.165.0)"},
		},
		{
			name: "manifest module off the line beside an exception",
			file: "agent/builder-config.yaml", old: "fileprovider v1.71.0", new: "fileprovider v1.66.0",
			want: []string{"FAIL: agent/builder-config.yaml:8: go.opentelemetry.io/collector/confmap/provider/fileprovider v1.66.0 strays off the collector line (want v1.71.0)"},
		},
		{
			name: "manifest without its exception",
			file: "agent/builder-config.yaml", old: "# collector-line exception:", new: "# an exception:",
			want: []string{"FAIL: agent/builder-config.yaml:6: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter v0.160.0 strays off the collector line (want v0.165.0)"},
		},
		{
			name: "exception for another version",
			file: "agent/builder-config.yaml", old: "loadbalancingexporter v0.160.0,", new: "loadbalancingexporter v0.159.0,",
			want: []string{
				"FAIL: agent/builder-config.yaml:2: the exception for github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter v0.159.0 matches no gomod: line of the manifest",
				"FAIL: agent/builder-config.yaml:6: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter v0.160.0 strays off the collector line (want v0.165.0)",
			},
		},
		{
			name: "exception without a reason",
			file: "agent/builder-config.yaml", old: "v0.160.0, the newest version served here", new: "v0.160.0",
			want: []string{"FAIL: agent/builder-config.yaml:2: the exception for github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter v0.160.0 gives no reason"},
		},
		{
			name: "quoted ocb manifest line",
			file: "manifest.yaml", old: "envprovider v1.71.0", new: "envprovider v1.72.0",
			want: []string{"FAIL: manifest.yaml:9: go.opentelemetry.io/collector/confmap/provider/envprovider v1.72.0 strays off the collector line (want v1.71.0)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, "testdata/line/ok")
			path := filepath.Join(root, tc.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(tc.old)) {
				t.Fatalf("%s has no %q", tc.file, tc.old)
			}
			if err := os.WriteFile(path, bytes.Replace(data, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runModules(append([]string{"line", "-root", root}, testLine...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			for _, want := range append(tc.want, "FAIL: modules line: ") {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// TestLineCheckOnThisRepository is the check make test runs, on the
// repository itself.
func TestLineCheckOnThisRepository(t *testing.T) {
	if code, _, stderr := runModules(append([]string{"line", "-root", "../../.."}, testLine...)...); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
}

func TestWriteModFiles(t *testing.T) {
	root := copyTree(t, "testdata/sync")
	ws, err := writeModFiles(root, "v0.165.3")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, m := range ws {
		dirs = append(dirs, m.Dir)
	}
	if got := strings.Join(dirs, " "); got != ". a b c" {
		t.Fatalf("modules %q, want \". a b c\"", got)
	}
	read := func(dir string) *modfile.File {
		data, err := os.ReadFile(filepath.Join(root, dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := modfile.Parse(dir, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	requires := func(f *modfile.File) string {
		var out []string
		for _, r := range f.Require {
			s := r.Mod.Path + " " + r.Mod.Version
			if r.Indirect {
				s += " indirect"
			}
			out = append(out, s)
		}
		return strings.Join(out, ", ")
	}
	replaces := func(f *modfile.File) string {
		var out []string
		for _, r := range f.Replace {
			out = append(out, r.Old.Path+" => "+r.New.Path)
		}
		return strings.Join(out, ", ")
	}
	for _, tc := range []struct{ dir, requires, replaces string }{
		// The root imports a, and b through a: b needs a replace too. c's
		// requirement is seeded for go mod tidy to keep or drop.
		{".", "example.com/dist/a v0.165.3, example.com/other v1.2.3, example.com/dist/b v0.165.3 indirect, example.com/dup v0.2.0 indirect, example.com/fromc v0.4.0 indirect",
			"example.com/dist/a => ./a, example.com/dist/b => ./b"},
		// a no longer imports c: its require and replace go; the pinned
		// requirements are seeded.
		{"a", "example.com/dist/b v0.165.3, example.com/dup v0.2.0 indirect, example.com/fromc v0.4.0 indirect, example.com/other v1.2.3 indirect", "example.com/dist/b => ../b"},
		// b's older requirement is raised to the highest pinned; its
		// duplicated one is kept once, at the higher version, direct.
		{"b", "example.com/dup v0.2.0, example.com/other v1.2.3, example.com/fromc v0.4.0 indirect", ""},
	} {
		f := read(tc.dir)
		if got := requires(f); got != tc.requires {
			t.Errorf("%s requires %q, want %q", tc.dir, got, tc.requires)
		}
		if got := replaces(f); got != tc.replaces {
			t.Errorf("%s replaces %q, want %q", tc.dir, got, tc.replaces)
		}
	}
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(work), "use (\n\t.\n\t./a\n\t./b\n\t./c\n)\n") {
		t.Errorf("go.work:\n%s", work)
	}
}

func TestSiblingProblems(t *testing.T) {
	root := copyTree(t, "testdata/line/ok")
	mods, err := discover(root)
	if err != nil {
		t.Fatal(err)
	}
	ws := workspace(mods)
	var stderr bytes.Buffer
	if err := siblingProblems(root, ws, "v0.165.0", &stderr); err != nil {
		t.Fatalf("%v:\n%s", err, stderr.String())
	}
	err = siblingProblems(root, ws, "v0.165.2", &stderr)
	if err == nil || !strings.Contains(stderr.String(), "go.mod requires example.com/dist/a v0.165.0, not v0.165.2: run make tidy VERSION=v0.165.2") {
		t.Errorf("want the sibling version named, got %v:\n%s", err, stderr.String())
	}
	stderr.Reset()
	ws[0].File.AddReplace("example.com/elsewhere", "", "../elsewhere", "")
	err = siblingProblems(root, ws, "v0.165.0", &stderr)
	if err == nil || !strings.Contains(stderr.String(), "go.mod replaces example.com/elsewhere => ../elsewhere : only sibling folders may replace") {
		t.Errorf("want the foreign replace named, got %v:\n%s", err, stderr.String())
	}
}

func TestReleaseVersionOnTheLine(t *testing.T) {
	for _, v := range []string{"v0.166.0", "v1.71.0", "0.165.1", "v0.165"} {
		code, _, stderr := runModules(append([]string{"release-check", "-root", "testdata/line/ok", "-version", v}, testLine...)...)
		if code != 1 || !strings.Contains(stderr, "FAIL: modules release-check: version") {
			t.Errorf("release-check -version %s: exit %d, stderr:\n%s", v, code, stderr)
		}
	}
}

func TestReleaseTags(t *testing.T) {
	ws := []*Module{{Dir: "."}, {Dir: "internal"}, {Dir: "processor/lifecycleidentityprocessor"}}
	got := strings.Join(releaseTags(ws, "v0.165.4"), " ")
	if want := "v0.165.4 internal/v0.165.4 processor/lifecycleidentityprocessor/v0.165.4"; got != want {
		t.Errorf("tags %q, want %q", got, want)
	}
}
