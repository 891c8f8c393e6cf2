package loadgen

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// serveUnix serves h on a Unix socket in a temporary folder and returns the
// socket's path.
func serveUnix(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "otlp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sock
}

// TestRoutingSets: with Sets, each request names every destination of its
// set, and ByDestination counts its spans once for each of them (and under
// "" when the header is missing), as the server sees them.
func TestRoutingSets(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int64{}
	sock := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		n := int64(req.Traces().SpanCount())
		mu.Lock()
		defer mu.Unlock()
		hdr := r.Header.Get(DefaultHeader)
		if hdr == "" {
			seen[""] += n
		} else {
			var tc struct{ Destinations []string }
			if err := json.Unmarshal([]byte(hdr), &tc); err != nil {
				t.Errorf("header %q: %v", hdr, err)
			}
			for _, d := range tc.Destinations {
				seen[d] += n
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	g, err := New(Config{
		Endpoint: sock, Duration: 5 * time.Second, SpansPerRequest: 10, Workers: 2, MaxRequests: 12,
		Routing: &Routing{Sets: [][]string{{"h", "f"}, {"h", "s"}, {"h", "f", "s"}}, MissingEvery: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Run(context.Background())
	// Requests 3, 7 and 11 carry no header; of the other nine, 0, 6, 9
	// name {h f}, 1, 4, 10 {h s}, 2, 5, 8 {h f s}.
	want := map[string]int64{"h": 90, "f": 60, "s": 60, "": 30}
	for k, v := range want {
		if st.ByDestination[k] != v {
			t.Errorf("ByDestination[%q] = %d, want %d (%v)", k, st.ByDestination[k], v, st.ByDestination)
		}
		mu.Lock()
		if seen[k] != v {
			t.Errorf("server saw %d spans for %q, want %d", seen[k], k, v)
		}
		mu.Unlock()
	}
	if st.SpansAccepted != 120 {
		t.Errorf("accepted %d, want 120", st.SpansAccepted)
	}
}

func TestRoutingEmptySetRefused(t *testing.T) {
	_, err := New(Config{Endpoint: "/x", Duration: time.Second, Routing: &Routing{Sets: [][]string{{"a"}, {}}}})
	if err == nil {
		t.Error("an empty destination set was accepted")
	}
}

func TestDueSpans(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		plan int64
		want int64
	}{
		{Config{Rate: 3000, Duration: 3 * time.Second, SpansPerRequest: 500}, 0, 9000},          // 18 requests, the 19th due at the end
		{Config{Rate: 1000, Duration: 2500 * time.Millisecond, SpansPerRequest: 1000}, 0, 3000}, // due at 0, 1, 2 s
		{Config{Rate: 1000, Duration: 2 * time.Second, SpansPerRequest: 10, MaxRequests: 7}, 0, 70},
		{Config{Rate: 1000, Duration: 2 * time.Second, SpansPerRequest: 10}, 55, 55},
		{Config{Rate: 0, Duration: 2 * time.Second, SpansPerRequest: 10}, 0, 0},
	} {
		if got := dueSpans(c.cfg, c.plan); got != c.want {
			t.Errorf("dueSpans(rate %d, %s, %d/request, max %d, plan %d) = %d, want %d",
				c.cfg.Rate, c.cfg.Duration, c.cfg.SpansPerRequest, c.cfg.MaxRequests, c.plan, got, c.want)
		}
	}
}

// TestUnofferedSpans: a server that never answers keeps the only worker
// busy, so the schedule's later requests are never sent; they are counted
// as unoffered, and sent + unoffered is what the schedule held. A server
// that answers at once leaves nothing unoffered.
func TestUnofferedSpans(t *testing.T) {
	release := make(chan struct{})
	hang := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	g, err := New(Config{Endpoint: hang, Rate: 1000, Duration: 300 * time.Millisecond, DrainTimeout: 300 * time.Millisecond,
		RequestTimeout: 5 * time.Second, SpansPerRequest: 10, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Run(context.Background())
	if st.SpansSent+st.SpansUnoffered != 300 || st.SpansUnoffered < 250 {
		t.Errorf("sent %d, unoffered %d: want the 300 scheduled spans, most of them unoffered", st.SpansSent, st.SpansUnoffered)
	}

	ok := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	g, err = New(Config{Endpoint: ok, Rate: 100, Duration: 500 * time.Millisecond, SpansPerRequest: 10, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	st = g.Run(context.Background())
	if st.SpansSent != 50 || st.SpansUnoffered != 0 {
		t.Errorf("sent %d, unoffered %d; want 50 and 0", st.SpansSent, st.SpansUnoffered)
	}
}

// TestRoutingDestinations: Destinations name one each, round robin, as
// sets of one would; the caller's Routing is left as it was.
func TestRoutingDestinations(t *testing.T) {
	r := &Routing{Destinations: []string{"a", "b", "c"}}
	g, err := New(Config{Endpoint: "/x", Duration: time.Second, Routing: r})
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range []string{"a", "b", "c", "a"} {
		v, i := g.builder.header(int64(seq))
		var tc struct{ Destinations []string }
		if err := json.Unmarshal([]byte(v), &tc); err != nil {
			t.Fatalf("header %q: %v", v, err)
		}
		routes := g.cfg.Routing.Configs[i].Routes()
		if len(routes) != 1 || routes[0] != want || len(tc.Destinations) != 1 || tc.Destinations[0] != want {
			t.Errorf("request %d names %v (header %v), want [%s]", seq, routes, tc.Destinations, want)
		}
	}
	if r.Sets != nil || r.Header != "" || r.Configs != nil {
		t.Errorf("the caller's Routing changed: %+v", r)
	}
}

// TestTraceConfigHeader: each encoding writes what its producer sends,
// byte for byte.
func TestTraceConfigHeader(t *testing.T) {
	foundations := TraceConfig{Account: "42", Zone: "12345", Encoding: EncodingJSONNumbers}
	b64 := func(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		tc   TraceConfig
		want string
	}{
		{TraceConfig{Account: "a1", Zone: "z1", Workspace: "w1", Destinations: []string{"tempo", "vendor"}},
			`{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo","vendor"]}`},
		{TraceConfig{Account: "a1"}, `{"account":"a1"}`},
		{foundations, `{"zoneId":12345,"accountId":42}`},
		// Beyond float64's exact integers: sent with every digit.
		{TraceConfig{Account: "9007199254740993", Workspace: "77", Encoding: EncodingJSONNumbers},
			`{"accountId":9007199254740993,"workspaceId":77}`},
		// Not JSON integers: strings.
		{TraceConfig{Account: "acct-1", Zone: "007", Encoding: EncodingJSONNumbers}, `{"zoneId":"007","accountId":"acct-1"}`},
		{TraceConfig{Account: "8", Zone: "2", Encoding: EncodingJSONSnake}, `{"account_id":"8","zone_id":"2"}`},
		{TraceConfig{Account: "2", Zone: "1", Encoding: EncodingKV}, `zone=1;account=2`},
		{TraceConfig{Account: "2", Destinations: []string{"a", "b"}, Encoding: EncodingKV}, `account=2;destinations=a|b`},
		{TraceConfig{Account: "42", Zone: "12345", Encoding: EncodingJSONNumbers, Base64: Base64Std},
			b64(base64.StdEncoding, `{"zoneId":12345,"accountId":42}`)},
		{TraceConfig{Account: "a?>", Encoding: EncodingJSONSnake, Base64: Base64URL},
			b64(base64.RawURLEncoding, `{"account_id":"a?\u003e"}`)},
	} {
		got, err := c.tc.Header()
		if err != nil || got != c.want {
			t.Errorf("%+v: %q, %v; want %q", c.tc, got, err, c.want)
		}
	}
	for _, tc := range []TraceConfig{
		{Account: "1", Encoding: EncodingKV, Base64: Base64Std},
		{Account: "1;zone=2", Encoding: EncodingKV},
		{Account: " 1", Encoding: EncodingKV},
		{Account: "1", Destinations: []string{"a|b"}, Encoding: EncodingKV},
		{Encoding: EncodingKV},
		{Account: "1", Encoding: "yaml"},
		{Account: "1", Base64: "hex"},
	} {
		if v, err := tc.Header(); err == nil {
			t.Errorf("%+v: %q, want an error", tc, v)
		}
	}
	if _, err := New(Config{Endpoint: "/x", Duration: time.Second,
		Routing: &Routing{Configs: []TraceConfig{foundations, {Encoding: EncodingKV}}}}); err == nil {
		t.Error("a config that cannot be written was accepted")
	}
}

// TestRoutingConfigs: Configs are sent in turn, each header as rendered;
// ByDestination counts each request's spans for the destinations it names
// or is routed to ("" when none, or no header), ByConfig per config; the
// caller's configs stay as they were.
func TestRoutingConfigs(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int64{}
	sock := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[r.Header.Get(DefaultHeader)] += int64(req.Traces().SpanCount())
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	configs := []TraceConfig{
		{Account: "42", Zone: "12345", Encoding: EncodingJSONNumbers, RoutedTo: []string{"h", "f"}},
		{Account: "7", Zone: "1", Encoding: EncodingKV, RoutedTo: []string{"h", "s"}},
		{Account: "a1", Destinations: []string{"h", "f", "s"}, Base64: Base64URL},
		{Account: "999", Encoding: EncodingKV}, // routed nowhere
	}
	before := slices.Clone(configs)
	g, err := New(Config{
		Endpoint: sock, Duration: 5 * time.Second, SpansPerRequest: 10, Workers: 2, MaxRequests: 10,
		Routing: &Routing{Configs: configs, MissingEvery: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Run(context.Background())
	// Requests 4 and 9 carry no header; 0 and 8 config 0, 1 and 5 config
	// 1, 2 and 6 config 2, 3 and 7 config 3.
	if want := []int64{20, 20, 20, 20}; !slices.Equal(st.ByConfig, want) {
		t.Errorf("ByConfig = %v, want %v", st.ByConfig, want)
	}
	want := map[string]int64{"h": 60, "f": 40, "s": 40, "": 40}
	if !maps.Equal(st.ByDestination, want) {
		t.Errorf("ByDestination = %v, want %v", st.ByDestination, want)
	}
	wantSeen := map[string]int64{
		`{"zoneId":12345,"accountId":42}`: 20,
		"zone=1;account=7":                20,
		base64.RawURLEncoding.EncodeToString([]byte(`{"account":"a1","destinations":["h","f","s"]}`)): 20,
		"account=999": 20,
		"":            20,
	}
	mu.Lock()
	defer mu.Unlock()
	if !maps.Equal(seen, wantSeen) {
		t.Errorf("server saw %v, want %v", seen, wantSeen)
	}
	if !slices.EqualFunc(configs, before, func(a, b TraceConfig) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Errorf("the caller's configs changed: %+v", configs)
	}
}
