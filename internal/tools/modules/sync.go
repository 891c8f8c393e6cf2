package main

import (
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// syncModules makes every workspace module's go.mod require the siblings it
// imports at version, with a replace to each sibling folder it needs
// (directly or through another sibling), so each module builds alone with
// GOWORK=off; replaces in a dependency's go.mod are ignored by its users, so
// they never reach anyone else's build. It then writes go.work and runs
// go mod tidy in every module. Rerun it after adding a module, an import of
// a sibling or a dependency.
func syncModules(root, version string, log io.Writer) error {
	ws, err := writeModFiles(root, version)
	if err != nil {
		return err
	}
	for _, m := range ws {
		fmt.Fprintf(log, "go mod tidy in %s\n", m.Dir)
		if err := goCmd(filepath.Join(root, m.Dir), log, "mod", "tidy"); err != nil {
			return fmt.Errorf("%s: %w", m.Dir, err)
		}
	}
	return nil
}

// writeModFiles writes the sibling lines of every workspace module's go.mod
// and go.work, and returns the workspace modules.
func writeModFiles(root, version string) ([]*Module, error) {
	mods, err := discover(root)
	if err != nil {
		return nil, err
	}
	ws := workspace(mods)
	if len(ws) == 0 || ws[0].Dir != "." {
		return nil, fmt.Errorf("no go.mod at the root %s", root)
	}
	direct := map[*Module][]*Module{}
	for _, m := range ws {
		deps, err := siblingImports(root, m, ws)
		if err != nil {
			return nil, err
		}
		direct[m] = deps
	}
	pins := pinned(ws)
	for _, m := range ws {
		seedPinned(m, pins)
		if err := writeSiblings(root, m, ws, direct[m], closure(m, direct), version); err != nil {
			return nil, err
		}
	}
	return ws, writeGoWork(root, ws)
}

// siblingImports returns the other workspace modules whose packages m's Go
// files (tests included, any build tags) import.
func siblingImports(root string, m *Module, ws []*Module) ([]*Module, error) {
	var deps []*Module
	base := filepath.Join(root, m.Dir)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == base {
				return nil
			}
			if skipDir(d.Name()) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if o := owner(ws, ip); o != nil && o != m && !slices.Contains(deps, o) {
				deps = append(deps, o)
			}
		}
		return nil
	})
	return deps, err
}

// pinned is every requirement of the workspace modules on anything but our
// own modules, each at the highest version any of them requires.
func pinned(ws []*Module) map[string]string {
	pins := map[string]string{}
	for _, m := range ws {
		for _, r := range m.File.Require {
			if owner(ws, r.Mod.Path) == nil && semver.Compare(r.Mod.Version, pins[r.Mod.Path]) > 0 {
				pins[r.Mod.Path] = r.Mod.Version
			}
		}
	}
	return pins
}

// seedPinned gives m, as indirect requirements, every pinned requirement it
// lacks, which go mod tidy then drops unless m needs it, and raises those m
// has at a lower version: a package m newly imports is then taken at the
// version the repository already pins, not at whatever version is newest.
// After a merge, taking main's go.mod files and running make tidy spreads
// main's new and raised requirements to the modules that use them, as
// minimum version selection did when there was one module.
func seedPinned(m *Module, pins map[string]string) {
	paths := make([]string, 0, len(pins))
	for p := range pins {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		i := slices.IndexFunc(m.File.Require, func(x *modfile.Require) bool { return x.Mod.Path == p })
		switch {
		case i < 0:
			m.File.AddNewRequire(p, pins[p], true)
		case semver.Compare(m.File.Require[i].Mod.Version, pins[p]) < 0:
			m.File.Require[i].Mod.Version = pins[p]
		}
	}
}

// closure is every sibling m needs, directly or through other siblings.
func closure(m *Module, direct map[*Module][]*Module) []*Module {
	var out []*Module
	var visit func(*Module)
	visit = func(x *Module) {
		for _, d := range direct[x] {
			if d != m && !slices.Contains(out, d) {
				out = append(out, d)
				visit(d)
			}
		}
	}
	visit(m)
	slices.SortFunc(out, func(a, b *Module) int { return strings.Compare(a.Dir, b.Dir) })
	return out
}

func writeSiblings(root string, m *Module, ws, direct, needed []*Module, version string) error {
	f := m.File
	isSibling := func(p string) bool { return slices.ContainsFunc(ws, func(s *Module) bool { return s.Path == p }) }
	for _, r := range slices.Clone(f.Replace) {
		if isSibling(r.Old.Path) {
			if err := f.DropReplace(r.Old.Path, r.Old.Version); err != nil {
				return err
			}
		}
	}
	// The requirements are written anew, direct and indirect in a block
	// each as go mod tidy writes a new go.mod, with every needed sibling at
	// version (go mod tidy then drops those m reaches only through others
	// if it can).
	// A path required twice (as git's merge of two go.mod edits can leave
	// it) is kept once, at the higher version, direct if either line is.
	var reqs []*modfile.Require
	var paths []string
	for _, r := range f.Require {
		i := slices.IndexFunc(reqs, func(x *modfile.Require) bool { return x.Mod.Path == r.Mod.Path })
		switch {
		case isSibling(r.Mod.Path):
		case i < 0:
			reqs = append(reqs, &modfile.Require{Mod: r.Mod, Indirect: r.Indirect})
		default:
			if semver.Compare(r.Mod.Version, reqs[i].Mod.Version) > 0 {
				reqs[i].Mod.Version = r.Mod.Version
			}
			reqs[i].Indirect = reqs[i].Indirect && r.Indirect
		}
		if !slices.Contains(paths, r.Mod.Path) {
			paths = append(paths, r.Mod.Path)
		}
	}
	for _, p := range paths {
		if err := f.DropRequire(p); err != nil {
			return err
		}
	}
	for _, s := range needed {
		reqs = append(reqs, &modfile.Require{Mod: module.Version{Path: s.Path, Version: version}, Indirect: !slices.Contains(direct, s)})
	}
	f.Cleanup()
	f.SetRequireSeparateIndirect(reqs)
	for _, s := range needed {
		rel, err := filepath.Rel(filepath.Join(root, m.Dir), filepath.Join(root, s.Dir))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, ".") {
			rel = "./" + rel
		}
		if err := f.AddReplace(s.Path, "", rel, ""); err != nil {
			return err
		}
	}
	f.Cleanup()
	out, err := f.Format()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, m.Dir, "go.mod"), out, 0o644)
}

// writeGoWork lists the workspace modules, so make, go test and editors see
// the repository as one; tools modules stay out (their pinned tools need
// versions of their own).
func writeGoWork(root string, ws []*Module) error {
	goVersion := "1.26.0"
	if ws[0].File.Go != nil {
		goVersion = ws[0].File.Go.Version
	}
	var b strings.Builder
	b.WriteString("// Written by `make tidy` (internal/tools/modules): every module but the\n// tools modules, which pin versions of their own.\n")
	fmt.Fprintf(&b, "go %s\n\nuse (\n", goVersion)
	for _, m := range ws {
		dir := "."
		if m.Dir != "." {
			dir = "./" + m.Dir
		}
		fmt.Fprintf(&b, "\t%s\n", dir)
	}
	b.WriteString(")\n")
	return os.WriteFile(filepath.Join(root, "go.work"), []byte(b.String()), 0o644)
}

// goCmd runs the go command in dir on the module alone, as a user's build
// would see it.
func goCmd(dir string, log io.Writer, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout = log
	cmd.Stderr = log
	return cmd.Run()
}
