package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealBackendSkipsWithoutJaeger: without a runnable Jaeger the
// scenario is skipped, saying how to get one, never passed.
func TestRealBackendSkipsWithoutJaeger(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "jaeger")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for jaeger, want := range map[string]string{
		"":                            "make testbed-real-backend",
		filepath.Join(dir, "missing"): "make jaeger",
		dir:                           "not an executable file",
		notExec:                       "not an executable file",
	} {
		res := Execute(t.Context(), Options{Binary: filepath.Join(dir, "no-collector"), Jaeger: jaeger}, realBackend)
		if res.Status != StatusSkipped || !strings.Contains(res.Reason, want) {
			t.Errorf("jaeger %q: %s %q, expected skipped with %q", jaeger, res.Status, res.Reason, want)
		}
	}
}

// TestRealBackendListed: make testbed runs it, after the scenarios on mock
// backends.
func TestRealBackendListed(t *testing.T) {
	all := All()
	if all[len(all)-1].Name != "real-backend" {
		t.Errorf("last scenario %q", all[len(all)-1].Name)
	}
	if s, ok := Find("real-backend"); !ok || !s.NeedsJaeger {
		t.Errorf("find: %v %+v", ok, s)
	}
}
