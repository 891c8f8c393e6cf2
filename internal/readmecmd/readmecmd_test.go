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
