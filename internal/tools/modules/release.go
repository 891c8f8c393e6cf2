package main

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/semver"
)

// releaseVersion is how our modules are versioned: on the collector's line,
// v0.<collector minor>.<our patch>.
var releaseVersion = regexp.MustCompile(`^v0\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

// releaseCheck proves each workspace module stands alone as a user's build
// takes it: on the line, sibling requires at the release's version, no
// replace but sibling folders, and with GOWORK=off go mod tidy changes
// nothing, go build and go test pass. It ends with the tags a release of
// version would create.
func releaseCheck(root, version string, l Line, noRace map[string]bool, testArgs []string, stdout, stderr io.Writer) error {
	if !releaseVersion.MatchString(version) {
		return fmt.Errorf("version %q is not v0.<minor>.<patch>", version)
	}
	if semver.MajorMinor(version) != semver.MajorMinor(l.Line) {
		return fmt.Errorf("version %s is off the collector line %s: our modules are tagged %s.N", version, semver.MajorMinor(l.Line), semver.MajorMinor(l.Line))
	}
	if err := lineCheck(root, l, stdout, stderr); err != nil {
		return err
	}
	mods, err := discover(root)
	if err != nil {
		return err
	}
	ws := workspace(mods)
	if err := siblingProblems(root, ws, version, stderr); err != nil {
		return err
	}
	for _, m := range ws {
		dir := filepath.Join(root, m.Dir)
		fmt.Fprintf(stdout, "== %s (%s), GOWORK=off\n", m.Dir, m.Path)
		if err := goCmd(dir, stdout, "mod", "tidy", "-diff"); err != nil {
			return fmt.Errorf("%s: go mod tidy would change go.mod or go.sum (diff above): run make tidy and commit", m.Dir)
		}
		if err := goCmd(dir, stdout, "build", "./..."); err != nil {
			return fmt.Errorf("%s: go build: %w", m.Dir, err)
		}
		args := []string{"test", "-count=1", "-timeout", "15m"}
		if !noRace[m.Dir] {
			args = append(args, "-race")
		}
		args = append(args, testArgs...)
		if err := goCmd(dir, stdout, append(args, "./...")...); err != nil {
			return fmt.Errorf("%s: go test: %w", m.Dir, err)
		}
	}
	fmt.Fprintf(stdout, "\nrelease-check %s passed; a release tags:\n", version)
	for _, t := range releaseTags(ws, version) {
		fmt.Fprintln(stdout, " ", t)
	}
	return nil
}

// siblingProblems checks the go.mod lines that name our own modules: each
// sibling required at version, and each replace a sibling's folder.
func siblingProblems(root string, ws []*Module, version string, stderr io.Writer) error {
	var problems []string
	byPath := map[string]*Module{}
	for _, m := range ws {
		byPath[m.Path] = m
	}
	for _, m := range ws {
		file := filepath.ToSlash(filepath.Join(m.Dir, "go.mod"))
		for _, r := range m.File.Require {
			if byPath[r.Mod.Path] != nil && r.Mod.Version != version {
				problems = append(problems, fmt.Sprintf("%s requires %s %s, not %s: run make tidy VERSION=%s and commit", file, r.Mod.Path, r.Mod.Version, version, version))
			}
		}
		for _, r := range m.File.Replace {
			s := byPath[r.Old.Path]
			target := filepath.ToSlash(filepath.Clean(filepath.Join(m.Dir, r.New.Path)))
			if s == nil || r.New.Version != "" || s.Dir != target {
				problems = append(problems, fmt.Sprintf("%s replaces %s => %s %s: only sibling folders may replace (a user's build ignores it and gets the required version)", file, r.Old.Path, r.New.Path, r.New.Version))
			}
		}
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, "FAIL:", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d go.mod line(s) name our modules wrongly", len(problems))
	}
	return nil
}

// releaseTags are the Git tags a release creates: the root module's is the
// bare version, every other module's is its folder and the version, as Go
// finds a module in a subfolder.
func releaseTags(ws []*Module, version string) []string {
	var tags []string
	for _, m := range ws {
		if m.Dir == "." {
			tags = append(tags, version)
		} else {
			tags = append(tags, strings.TrimSuffix(m.Dir, "/")+"/"+version)
		}
	}
	return tags
}
