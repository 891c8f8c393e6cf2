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
	// except is the exception an ocb manifest declares for this module at
	// this version (a component not served on the line); nil: none.
	except *exception
}

// exception is an ocb manifest's declaration that one module of it stays
// at a version off the line, and why:
// `# collector-line exception: module version, why`.
type exception struct {
	where   string // manifest and line of the declaration
	path    string
	version string
	why     string
	used    bool
}

var exceptionLine = regexp.MustCompile(`^\s*#\s*collector-line exception:\s*(\S+)\s+(v[^\s,]+)\s*,?\s*(.*)$`)

// gomodLine is an ocb manifest's component line: `- gomod: module version`.
var gomodLine = regexp.MustCompile(`^\s*(?:-\s*)?gomod:\s*"?(\S+)\s+(v[^\s"]+)"?`)

// collectorUses lists every collector module version named by the
// workspace modules' go.mod files (requires and replaces) and by the ocb
// manifests (YAML files with gomod: lines) in the repository, and the
// exceptions those manifests declare.
func collectorUses(root string, ws []*Module) ([]use, []*exception, error) {
	var uses []use
	var excepts []*exception
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
		found, declared, err := manifestUses(p, filepath.ToSlash(rel))
		uses = append(uses, found...)
		excepts = append(excepts, declared...)
		return err
	})
	return uses, excepts, err
}

func manifestUses(p, rel string) ([]use, []*exception, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var uses []use
	var excepts []*exception
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if m := exceptionLine.FindStringSubmatch(sc.Text()); m != nil {
			excepts = append(excepts, &exception{where: fmt.Sprintf("%s:%d", rel, n), path: m[1], version: m[2], why: strings.TrimSpace(m[3])})
		}
		if m := gomodLine.FindStringSubmatch(sc.Text()); m != nil && isCollector(m[1]) {
			uses = append(uses, use{where: fmt.Sprintf("%s:%d", rel, n), path: m[1], version: m[2]})
		}
	}
	for i := range uses {
		for _, e := range excepts {
			if e.path == uses[i].path && e.version == uses[i].version {
				uses[i].except, e.used = e, true
			}
		}
	}
	return uses, excepts, sc.Err()
}

// exceptionProblems returns one line per exception that gives no reason or
// that excepts no module its manifest names at that version (left behind
// when the module moved to the line or off it again).
func exceptionProblems(excepts []*exception) []string {
	var problems []string
	for _, e := range excepts {
		switch {
		case e.why == "":
			problems = append(problems, fmt.Sprintf("%s: the exception for %s %s gives no reason (`# collector-line exception: module version, why`)", e.where, e.path, e.version))
		case !e.used:
			problems = append(problems, fmt.Sprintf("%s: the exception for %s %s matches no gomod: line of the manifest", e.where, e.path, e.version))
		}
	}
	return problems
}

// lineProblems returns one line per collector module version off the line
// (but those a manifest excepts), and one per collector module named at
// different versions.
func lineProblems(uses []use, l Line) []string {
	var problems []string
	versions := map[string][]use{}
	for _, u := range uses {
		if u.except != nil {
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
	uses, excepts, err := collectorUses(root, ws)
	if err != nil {
		return err
	}
	for _, m := range mods {
		if m.Tool {
			fmt.Fprintf(stdout, "collector line: skipped tools module %s (its tools are never linked into a build)\n", m.Dir)
		}
	}
	for _, e := range excepts {
		fmt.Fprintf(stdout, "collector line: %s excepts %s %s: %s\n", e.where, e.path, e.version, e.why)
	}
	problems := append(exceptionProblems(excepts), lineProblems(uses, l)...)
	for _, p := range problems {
		fmt.Fprintln(stderr, "FAIL:", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s) with the collector line core %s / %s", len(problems), l.Core, l.Line)
	}
	but := ""
	if len(excepts) > 0 {
		but = fmt.Sprintf(" but the %d excepted", len(excepts))
	}
	fmt.Fprintf(stdout, "collector line: %d collector module versions in %d modules and their ocb manifests, all on core %s / %s%s\n", len(uses), len(ws), l.Core, l.Line, but)
	return nil
}
