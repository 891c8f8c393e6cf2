package readmecmd

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const readme = "# x\n\n## Send\n\n```sh\ncurl --unix-socket run/a.sock \\\n  -d @b.json http://localhost/v1/traces\nmake run\n```\n\n```yaml\ncurl: not a command\n```\n\n## Other\n\n```sh\ncurl http://elsewhere\n```\n"

func TestCurlJoinsContinuationsAndKeepsToTheSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	require.NoError(t, os.WriteFile(path, []byte(readme), 0o600))

	cmds, err := Curl(path, "Send")
	require.NoError(t, err)
	assert.Equal(t, []string{"curl --unix-socket run/a.sock   -d @b.json http://localhost/v1/traces"}, cmds)

	all, err := Curl(path, "")
	require.NoError(t, err)
	assert.Len(t, all, 2, "without a section every shell block counts, yaml blocks never")

	_, err = Curl(path, "Missing")
	assert.ErrorContains(t, err, `no section "Missing"`)
}

func TestStageFilesCopiesEachDataFile(t *testing.T) {
	root, work := t.TempDir(), t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "examples"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "examples", "a.json"), []byte(`{"a":1}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(root, "b.json"), []byte(`{"b":2}`), 0o600))

	cmd := "curl --unix-socket run/x.sock -d @examples/a.json --data-binary @b.json http://localhost/v1/traces"
	require.NoError(t, StageFiles(cmd, root, work))
	for path, want := range map[string]string{"examples/a.json": `{"a":1}`, "b.json": `{"b":2}`} {
		got, err := os.ReadFile(filepath.Join(work, path))
		require.NoError(t, err, "%s staged", path)
		assert.Equal(t, want, string(got), path)
	}
	entries, err := os.ReadDir(work)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "only the named files (and their folders) are staged")

	require.NoError(t, StageFiles("curl http://localhost/", root, work), "a command without @file stages nothing")
	err = StageFiles("curl -d @missing.json http://localhost/", root, work)
	assert.ErrorContains(t, err, "missing.json", "a named file that does not exist is an error naming it")
}

func TestRunCurlReturnsStatusAndBody(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, r.URL.Path)
	})}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { _ = srv.Close() })

	code, body, err := RunCurl(dir, "curl --unix-socket s.sock http://localhost/v1/traces")
	require.NoError(t, err)
	assert.Equal(t, http.StatusTeapot, code)
	assert.Equal(t, "/v1/traces", body)

	_, _, err = RunCurl(dir, "curl --unix-socket missing.sock http://localhost/")
	assert.Error(t, err, "a connection failure is an error, not a status")
}
