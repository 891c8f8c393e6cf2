package scenario

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Heap profiles (the testbed's -heap-profiles): every collector gets the
// pprof extension, and its heap profile is saved every HeapProfileEvery
// while it runs, as
//
//	<HeapProfiles>/<scenario>/<n>-<label>-<seconds since start>s.pb.gz (and .memstats.txt, the
//	runtime.MemStats of the same moment)
//
// (<n> numbers the scenario's collectors). Read one with
// `go tool pprof -sample_index=inuse_space -top <file>`; inuse_space is
// what the heap held at the last GC before the profile.

// defaultHeapProfileEvery is how often a heap profile is saved.
const defaultHeapProfileEvery = 2 * time.Second

// profileHeap saves l's heap profiles until stop is closed.
func (l *live) profileHeap(dir string, n int, every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if every <= 0 {
		every = defaultHeapProfileEvery
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, l.label)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s-%03ds", n, name, int(time.Since(l.start).Seconds())))
		if err := saveHeapProfile(l.spec.PprofPort, path); err != nil {
			l.e.logf("   %s: heap profile: %v", l.label, err)
		}
	}
}

// saveHeapProfile writes the heap profile served on 127.0.0.1:port to
// path.pb.gz, and the runtime.MemStats of the text form (debug=1) to
// path.memstats.txt.
func saveHeapProfile(port int, path string) error {
	data, err := get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", port))
	if err == nil {
		err = os.WriteFile(path+".pb.gz", data, 0o644)
	}
	if err != nil {
		return err
	}
	text, err := get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?debug=1", port))
	if err != nil {
		return err
	}
	if i := bytes.Index(text, []byte("\n# runtime.MemStats")); i >= 0 {
		text = text[i+1:]
	}
	return os.WriteFile(path+".memstats.txt", text, 0o644)
}

func get(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}
