package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// Line is the collector release line every module of ours is built on: the
// stable modules (v1.x) at Core, the others (v0.x, contrib's too) at Line.
type Line struct {
	Core string // v1.71.0
	Line string // v0.165.0
}

// want is the version a collector module at version v must have.
func (l Line) want(v string) string {
	if semver.Major(v) == "v1" {
		return l.Core
	}
	return l.Line
}

// isCollector reports a module of the collector's release line: core's and
// contrib's (not go.opentelemetry.io/contrib, the OpenTelemetry-Go
// instrumentation, which has its own versions).
func isCollector(path string) bool {
	return path == "go.opentelemetry.io/collector" ||
		strings.HasPrefix(path, "go.opentelemetry.io/collector/") ||
		strings.HasPrefix(path, "github.com/open-telemetry/opentelemetry-collector-contrib/")
}

// use is one place a collector module's version is named.
type use struct {
	where   string // go.mod or manifest, with the line
	path    string
	version string
	// own is the line an ocb manifest declares for itself (a collector
	// build of its own that links none of our modules, e.g. a testbed
	// agent); nil: the repository's line.
	own *Line
}

// ownLine is a manifest's declaration of a line of its own:
// `# collector-line: core v1.66.0 / v0.160.0, why`.
var ownLine = regexp.MustCompile(`^\s*#\s*collector-line:\s*core\s+(v[0-9][^\s/]*)\s*/\s*(v[0-9][^\s,;]*)`)

// gomodLine is an ocb manifest's component line: `- gomod: module version`.
var gomodLine = regexp.MustCompile(`^\s*(?:-\s*)?gomod:\s*"?(\S+)\s+(v[^\s"]+)"?`)

// collectorUses lists every collector module version named by the
// workspace modules' go.mod files (requires and replaces) and by the ocb
// manifests (YAML files with gomod: lines) in the repository.
func collectorUses(root string, ws []*Module) ([]use, error) {
	var uses []use
	for _, m := range ws {
		file := filepath.ToSlash(filepath.Join(m.Dir, "go.mod"))
		for _, r := range m.File.Require {
			if isCollector(r.Mod.Path) {
				uses = append(uses, use{where: fmt.Sprintf("%s:%d", file, r.Syntax.Start.Line), path: r.Mod.Path, version: r.Mod.Version})
			}
		}
		for _, r := range m.File.Replace {
			if isCollector(r.New.Path) && r.New.Version != "" {
				uses = append(uses, use{where: fmt.Sprintf("%s:%d", file, r.Syntax.Start.Line), path: r.New.Path, version: r.New.Version})
			}
		}
	}
	err := walkFiles(root, func(p string, d fs.DirEntry) error {
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		found, err := manifestUses(p, filepath.ToSlash(rel))
		uses = append(uses, found...)
		return err
	})
	return uses, err
}

func manifestUses(p, rel string) ([]use, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var uses []use
	var own *Line
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if m := ownLine.FindStringSubmatch(sc.Text()); m != nil {
			own = &Line{Core: m[1], Line: m[2]}
		}
		if m := gomodLine.FindStringSubmatch(sc.Text()); m != nil && isCollector(m[1]) {
			uses = append(uses, use{where: fmt.Sprintf("%s:%d", rel, n), path: m[1], version: m[2]})
		}
	}
	for i := range uses {
		uses[i].own = own
	}
	return uses, sc.Err()
}

// lineProblems returns one line per collector module version off the line
// (a manifest's own, if it declares one), and one per collector module
// named at different versions on the repository's line.
func lineProblems(uses []use, l Line) []string {
	var problems []string
	versions := map[string][]use{}
	for _, u := range uses {
		if u.own != nil {
			if want := u.own.want(u.version); u.version != want {
				problems = append(problems, fmt.Sprintf("%s: %s %s strays off the line this manifest declares (want %s)", u.where, u.path, u.version, want))
			}
			continue
		}
		if want := l.want(u.version); u.version != want {
			problems = append(problems, fmt.Sprintf("%s: %s %s strays off the collector line (want %s)", u.where, u.path, u.version, want))
		}
		if !slices.ContainsFunc(versions[u.path], func(o use) bool { return o.version == u.version }) {
			versions[u.path] = append(versions[u.path], u)
		}
	}
	var paths []string
	for p, vs := range versions {
		if len(vs) > 1 {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		var at []string
		for _, u := range versions[p] {
			at = append(at, fmt.Sprintf("%s in %s", u.version, u.where))
		}
		problems = append(problems, fmt.Sprintf("modules disagree on %s: %s", p, strings.Join(at, ", ")))
	}
	return problems
}

// lineCheck fails, naming each, when a collector module strays off the line
// or two modules disagree. Tools modules are skipped and named: their
// pinned tools (mdatagen) are not served on this line and are never linked
// into a build.
func lineCheck(root string, l Line, stdout, stderr io.Writer) error {
	if semver.Major(l.Core) != "v1" || semver.Major(l.Line) != "v0" {
		return fmt.Errorf("-core %q must be a v1 version and -line %q a v0 version", l.Core, l.Line)
	}
	mods, err := discover(root)
	if err != nil {
		return err
	}
	ws := workspace(mods)
	uses, err := collectorUses(root, ws)
	if err != nil {
		return err
	}
	for _, m := range mods {
		if m.Tool {
			fmt.Fprintf(stdout, "collector line: skipped tools module %s (its tools are never linked into a build)\n", m.Dir)
		}
	}
	declared := map[string]bool{}
	for _, u := range uses {
		if file, _, _ := strings.Cut(u.where, ":"); u.own != nil && !declared[file] {
			declared[file] = true
			fmt.Fprintf(stdout, "collector line: %s declares a line of its own, core %s / %s (a build that links none of our modules)\n", file, u.own.Core, u.own.Line)
		}
	}
	problems := lineProblems(uses, l)
	for _, p := range problems {
		fmt.Fprintln(stderr, "FAIL:", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s) with the collector line core %s / %s", len(problems), l.Core, l.Line)
	}
	fmt.Fprintf(stdout, "collector line: %d collector module versions in %d modules and their ocb manifests, all on core %s / %s\n", len(uses), len(ws), l.Core, l.Line)
	return nil
}
