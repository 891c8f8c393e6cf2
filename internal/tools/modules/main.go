// Command modules keeps tracebound's Go modules in step: one go.mod per
// component, the shared internal module, the testbed and the root module
// (the distribution and its end-to-end tests), all on one collector line.
//
//	modules list                           the workspace modules, one folder a line
//	modules sync -version v0.165.0         sibling requires and replaces, go.work, go mod tidy
//	modules line -core v1.71.0 -line v0.165.0
//	                                       fails when a collector module strays off the line
//	modules release-check -version v0.165.1 -core v1.71.0 -line v0.165.0 -no-race .,testbed
//	                                       each module alone (GOWORK=off): tidy, build, test; the tags
//
// Run it from the tools module with GOWORK=off (the Makefile does); -root
// names the repository (default ../.., the root seen from internal/tools).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so tests can read what a failing check says.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: modules list|sync|line|release-check [flags]")
		return 2
	}
	fs := flag.NewFlagSet("modules "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "../..", "the repository's root folder")
	version := fs.String("version", "", "our modules' version, on the collector's line (v0.165.N)")
	core := fs.String("core", "", "the collector's stable modules' version (v1.71.0)")
	line := fs.String("line", "", "the collector's other modules' version (v0.165.0)")
	noRace := fs.String("no-race", "", "module folders whose tests run without -race, separated by spaces or commas")
	testArgs := fs.String("test-args", "", "more go test flags for release-check, separated by spaces (-run '^$' only compiles the tests)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var err error
	switch args[0] {
	case "list":
		err = listModules(*root, stdout)
	case "sync":
		err = needFlags(map[string]string{"version": *version})
		if err == nil {
			err = syncModules(*root, *version, stderr)
		}
	case "line":
		err = needFlags(map[string]string{"core": *core, "line": *line})
		if err == nil {
			err = lineCheck(*root, Line{Core: *core, Line: *line}, stdout, stderr)
		}
	case "release-check":
		err = needFlags(map[string]string{"version": *version, "core": *core, "line": *line})
		if err == nil {
			err = releaseCheck(*root, *version, Line{Core: *core, Line: *line}, splitList(*noRace), strings.Fields(*testArgs), stdout, stderr)
		}
	default:
		err = fmt.Errorf("unknown command %q: want list, sync, line or release-check", args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "FAIL: modules %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func needFlags(flags map[string]string) error {
	for name, value := range flags {
		if value == "" {
			return fmt.Errorf("-%s is required", name)
		}
	}
	return nil
}

func splitList(s string) map[string]bool {
	set := map[string]bool{}
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		set[item] = true
	}
	return set
}

func listModules(root string, stdout io.Writer) error {
	mods, err := discover(root)
	if err != nil {
		return err
	}
	for _, m := range workspace(mods) {
		fmt.Fprintln(stdout, m.Dir)
	}
	return nil
}
