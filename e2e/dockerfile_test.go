package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No Docker engine runs here, so the Dockerfile is held to what the rest of
// the repository says instead: each image the manifests run has a make
// target that builds it, from the stage that target names, whose
// entrypoint is the binary the matching make build writes.

// dockerStage is one stage of a Dockerfile.
type dockerStage struct {
	name, from string
	makes      []string // targets its RUN lines make
	copies     []dockerCopy
	user       string
	entrypoint []string
	cmd        []string
}

// dockerCopy is one COPY: from a stage (or the build context, ""), src to
// dst.
type dockerCopy struct{ from, src, dst string }

var makeInRun = regexp.MustCompile(`(?:^|[\s;&|])make\s+([A-Za-z0-9_.-]+)`)

// parseDockerfile reads the stages of a Dockerfile: continuation lines
// joined, comments and the parser directive skipped.
func parseDockerfile(t *testing.T, data string) []*dockerStage {
	t.Helper()
	var stages []*dockerStage
	var logical []string
	cur := ""
	for _, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur += body + " "
			continue
		}
		logical = append(logical, cur+trimmed)
		cur = ""
	}
	for _, l := range logical {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		if strings.ToUpper(instr) == "FROM" {
			f := strings.Fields(rest)
			s := &dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		require.NotEmpty(t, stages, "%q before any FROM", l)
		s := stages[len(stages)-1]
		switch strings.ToUpper(instr) {
		case "RUN":
			for _, m := range makeInRun.FindAllStringSubmatch(rest, -1) {
				s.makes = append(s.makes, m[1])
			}
		case "COPY":
			c := dockerCopy{}
			var paths []string
			for _, f := range strings.Fields(rest) {
				if from, ok := strings.CutPrefix(f, "--from="); ok {
					c.from = from
				} else if !strings.HasPrefix(f, "--") {
					paths = append(paths, f)
				}
			}
			require.Len(t, paths, 2, "COPY %s: one source and a destination", rest)
			c.src, c.dst = paths[0], paths[1]
			s.copies = append(s.copies, c)
		case "USER":
			s.user = rest
		case "ENTRYPOINT":
			require.NoError(t, json.Unmarshal([]byte(rest), &s.entrypoint), "ENTRYPOINT %s: exec form", rest)
		case "CMD":
			require.NoError(t, json.Unmarshal([]byte(rest), &s.cmd), "CMD %s: exec form", rest)
		}
	}
	return stages
}

// stageNamed returns the stage called name, nil if none.
func stageNamed(stages []*dockerStage, name string) *dockerStage {
	i := slices.IndexFunc(stages, func(s *dockerStage) bool { return s.name == name })
	if name == "" || i < 0 {
		return nil
	}
	return stages[i]
}

// targetStage is the stage `docker build --target target` makes: the last
// without a target.
func targetStage(stages []*dockerStage, target string) *dockerStage {
	if target == "" {
		return stages[len(stages)-1]
	}
	return stageNamed(stages, target)
}

// stageMakes reports whether stage name, or one it is built FROM, runs
// make target. A stage can only be built FROM one before it, so the walk
// ends.
func stageMakes(stages []*dockerStage, name, target string) bool {
	for s := stageNamed(stages, name); s != nil; s = stageNamed(stages, s.from) {
		if slices.Contains(s.makes, target) {
			return true
		}
	}
	return false
}

var dockerBuild = regexp.MustCompile(`docker build\b(.*)`)

func TestDockerfileBuildsTheImagesTheManifestsRun(t *testing.T) {
	root := repoRoot()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	stages := parseDockerfile(t, string(data))
	vars, rules, err := readMakefile(root)
	require.NoError(t, err)
	pods := collectorPods(t, loadManifests(t))

	for _, tc := range []struct {
		image      string // as the manifests name it
		imageVar   string // the Makefile variable of its name:tag
		binaryVar  string // the Makefile variable of the binary it runs
		buildMake  string // the make target that builds that binary
		dockerMake string // the make target that builds the image
		stage      string // the Dockerfile stage ("" the last)
	}{
		{traceboundImage, "IMAGE", "BINARY", "build", "docker", ""},
		{agentLBImage, "AGENT_IMAGE", "LB_AGENT", "lb-agent", "docker-agent", "agent"},
	} {
		t.Run(tc.image, func(t *testing.T) {
			s := targetStage(stages, tc.stage)
			require.NotNil(t, s, "no stage %q", tc.stage)
			assert.Equal(t, "65532:65532", s.user, "distroless nonroot")
			uid, gid, _ := strings.Cut(s.user, ":")

			tag := vars[tc.imageVar]
			require.Equal(t, tc.image, imageName(tag), "Makefile %s", tc.imageVar)
			ran := 0
			for _, p := range pods {
				if p.image != tc.image {
					continue
				}
				ran++
				assert.Equal(t, tag, p.container.Image, "%s: the image make %s builds", p.where, tc.dockerMake)
				if sc := p.container.SecurityContext; sc != nil && sc.RunAsUser != nil {
					assert.Equal(t, uid, strconv.FormatInt(*sc.RunAsUser, 10), "%s runs as the image's user", p.where)
				}
				if sc := p.container.SecurityContext; sc != nil && sc.RunAsGroup != nil {
					assert.Equal(t, gid, strconv.FormatInt(*sc.RunAsGroup, 10), "%s runs as the image's group", p.where)
				}
			}
			require.Positive(t, ran, "no manifest runs %s", tc.image)

			i := slices.IndexFunc(rules, func(r *makeRule) bool { return r.target == tc.dockerMake })
			require.GreaterOrEqual(t, i, 0, "no make %s", tc.dockerMake)
			recipe := strings.Join(rules[i].recipe, "\n")
			m := dockerBuild.FindStringSubmatch(recipe)
			require.NotNil(t, m, "make %s runs no docker build", tc.dockerMake)
			assert.Contains(t, m[1], "-t $("+tc.imageVar+")")
			if tc.stage == "" {
				assert.NotContains(t, m[1], "--target", "make %s builds the last stage", tc.dockerMake)
			} else {
				assert.Contains(t, m[1], "--target "+tc.stage)
			}

			require.NotEmpty(t, s.entrypoint)
			c := slices.IndexFunc(s.copies, func(c dockerCopy) bool { return c.dst == s.entrypoint[0] })
			require.GreaterOrEqual(t, c, 0, "nothing copies the entrypoint %s", s.entrypoint[0])
			bin := s.copies[c]
			assert.Equal(t, "/src/"+vars[tc.binaryVar], bin.src, "the binary make %s writes", tc.buildMake)
			assert.True(t, stageMakes(stages, bin.from, tc.buildMake), "stage %q does not run make %s", bin.from, tc.buildMake)
			assert.True(t, slices.ContainsFunc(rules, func(r *makeRule) bool { return r.target == tc.buildMake }), "no make %s", tc.buildMake)
		})
	}

	// The default image's own config, as its CMD names it, is a file here.
	last := targetStage(stages, "")
	cfg := configArg(last.cmd)
	i := slices.IndexFunc(last.copies, func(c dockerCopy) bool { return c.dst == cfg })
	require.GreaterOrEqual(t, i, 0, "nothing copies the CMD's config %s", cfg)
	assert.FileExists(t, filepath.Join(root, strings.TrimPrefix(last.copies[i].src, "/src/")))
}

// TestParseDockerfile: stages, continuation lines, make targets and copies
// as the test above reads them.
func TestParseDockerfile(t *testing.T) {
	stages := parseDockerfile(t, `# syntax=docker/dockerfile:1
FROM golang AS src
COPY . .
FROM src AS build
RUN --mount=type=cache,target=/go \
    make build && make other
FROM scratch
COPY --from=build --chown=1:1 /src/bin/x /x
USER 1:1
ENTRYPOINT ["/x"]
CMD ["--config", "/c.yaml"]
`)
	require.Len(t, stages, 3)
	assert.Equal(t, []string{"build", "other"}, stages[1].makes)
	assert.Equal(t, "src", stages[1].from)
	assert.Equal(t, []dockerCopy{{from: "build", src: "/src/bin/x", dst: "/x"}}, stages[2].copies)
	assert.Equal(t, []string{"/x"}, stages[2].entrypoint)
	assert.True(t, stageMakes(stages, "build", "build"))
	assert.False(t, stageMakes(stages, "src", "build"))
}
