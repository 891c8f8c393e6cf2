package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
)

// Module is one go.mod of the repository.
type Module struct {
	// Dir is the module's folder relative to the root, slash-separated; "."
	// for the root module.
	Dir string
	// Path is the module path of its go.mod.
	Path string
	File *modfile.File
	// Tool marks a tools module (a go.mod with tool directives, or one under
	// internal/tools): pinned build tools, never linked into a build, so it
	// stays out of go.work, releases and the collector line.
	Tool bool
}

// skipDirs are folders that hold no module of ours: ocb's output (bin/, with
// the go.mod ocb writes), installed tools, run state, and test data (which
// may hold go.mod files made to fail a check).
var skipDirs = map[string]bool{".git": true, ".tools": true, "bin": true, "run": true, "testdata": true, "node_modules": true}

func skipDir(name string) bool {
	return skipDirs[name] || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// walkFiles calls visit for every file under root, skipping skipDirs.
func walkFiles(root string, visit func(path string, d fs.DirEntry) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		return visit(path, d)
	})
}

// discover finds every go.mod under root, the root module first, the rest
// by folder.
func discover(root string) ([]*Module, error) {
	var mods []*Module
	err := walkFiles(root, func(path string, d fs.DirEntry) error {
		if d.Name() != "go.mod" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(path, data, nil)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(rel)
		mods = append(mods, &Module{
			Dir:  dir,
			Path: f.Module.Mod.Path,
			File: f,
			Tool: len(f.Tool) > 0 || dir == "internal/tools" || strings.HasPrefix(dir, "internal/tools/"),
		})
		return nil
	})
	slices.SortFunc(mods, func(a, b *Module) int {
		if a.Dir == "." || b.Dir == "." {
			return boolCmp(b.Dir == ".", a.Dir == ".")
		}
		return strings.Compare(a.Dir, b.Dir)
	})
	return mods, err
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// workspace is the modules that build and release together: all but tools.
func workspace(mods []*Module) []*Module {
	var ws []*Module
	for _, m := range mods {
		if !m.Tool {
			ws = append(ws, m)
		}
	}
	return ws
}

// owner returns the workspace module that holds the package importPath: the
// one with the longest module path that is a prefix of it.
func owner(ws []*Module, importPath string) *Module {
	var best *Module
	for _, m := range ws {
		if importPath == m.Path || strings.HasPrefix(importPath, m.Path+"/") {
			if best == nil || len(m.Path) > len(best.Path) {
				best = m
			}
		}
	}
	return best
}
