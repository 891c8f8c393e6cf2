// Package readmecmd reads the shell commands a README tells users to paste,
// and runs them as a shell would, so that tests can keep the documented
// commands working as written.
package readmecmd // import "github.com/tracebound/tracebound/internal/readmecmd"

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var (
	// DataFile matches a curl `@file` body argument; group 1 is the path.
	DataFile = regexp.MustCompile(`\s@(\S+)`)
	// TraceConfig matches a quoted cf-trace-config header; group 1 is its value.
	TraceConfig = regexp.MustCompile(`'cf-trace-config:\s*([^']*)'`)
)

// Curl returns the curl commands of the shell code blocks of the markdown
// file at path, backslash-newline continuations joined as the shell joins
// them. With section set, only the "## section" part is read.
func Curl(path, section string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(data)
	if section != "" {
		_, after, found := strings.Cut(text, "\n## "+section+"\n")
		if !found {
			return nil, fmt.Errorf("%s has no section %q", path, section)
		}
		if end := strings.Index(after, "\n## "); end >= 0 {
			after = after[:end]
		}
		text = after
	}
	var cmds []string
	var cur strings.Builder
	inFence, isShell := false, false
	for line := range strings.SplitSeq(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !inFence && strings.HasPrefix(trimmed, "```"):
			inFence = true
			lang := strings.TrimPrefix(trimmed, "```")
			isShell = lang == "sh" || lang == "bash" || lang == "shell" || lang == "console"
		case inFence && trimmed == "```":
			inFence = false
		case inFence && isShell:
			if cont, ok := strings.CutSuffix(line, `\`); ok {
				cur.WriteString(cont)
				continue
			}
			cur.WriteString(line)
			cmd := strings.TrimSpace(cur.String())
			cur.Reset()
			if strings.HasPrefix(cmd, "curl ") {
				cmds = append(cmds, cmd)
			}
		}
	}
	return cmds, nil
}

// StageFiles copies each `@file` a curl command names (see DataFile) from
// fromRoot into toDir, at the same relative path and creating its folders,
// so that the command runs in toDir as it would in fromRoot.
func StageFiles(cmd, fromRoot, toDir string) error {
	for _, f := range DataFile.FindAllStringSubmatch(cmd, -1) {
		data, err := os.ReadFile(filepath.Join(fromRoot, f[1]))
		if err != nil {
			return fmt.Errorf("the command sends %s: %w", f[1], err)
		}
		to := filepath.Join(toDir, f[1])
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// RunCurl runs a curl command as a user would paste it (through sh, in dir)
// and returns the HTTP status and the body of the answer.
func RunCurl(dir, cmd string) (int, string, error) {
	if _, err := exec.LookPath("curl"); err != nil {
		return 0, "", fmt.Errorf("the README commands are run with curl: %w", err)
	}
	script := `curl -sS -w '\n%{http_code}' ` + strings.TrimPrefix(cmd, "curl ")
	c := exec.Command("sh", "-c", script)
	c.Dir = dir
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w\n%s", cmd, err, stderr.String())
	}
	i := bytes.LastIndexByte(out, '\n')
	if i < 0 {
		return 0, "", fmt.Errorf("no status in curl output %q", out)
	}
	code, err := strconv.Atoi(string(out[i+1:]))
	if err != nil {
		return 0, "", fmt.Errorf("curl status %q: %w", out[i+1:], err)
	}
	return code, string(out[:i]), nil
}
