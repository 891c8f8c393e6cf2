package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Client posts OTLP/HTTP trace requests to one endpoint, over a Unix socket
// or TCP.
type Client struct {
	url  string
	http *http.Client
	host string // the Host header, when set
}

// NewClient returns a client for endpoint (see Config.Endpoint) with up to
// conns idle connections.
func NewClient(endpoint string, conns int, timeout time.Duration) *Client {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	url := endpoint
	if IsUnix(endpoint) {
		path := strings.TrimPrefix(endpoint, "unix://")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		url = "http://unix"
	} else if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	return &Client{
		url:  strings.TrimSuffix(url, "/") + "/v1/traces",
		http: &http.Client{Transport: tr, Timeout: timeout},
	}
}

// newProducerClient is foundations' client: a new connection for every
// request (HTTP/1.1, never kept alive), Host: localhost, no compression.
func newProducerClient(endpoint string, timeout time.Duration) *Client {
	c := NewClient(endpoint, 0, timeout)
	tr := c.http.Transport.(*http.Transport)
	tr.DisableKeepAlives = true
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, 0
	tr.ForceAttemptHTTP2 = false
	c.host = "localhost"
	return c
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Result is the outcome of one attempt.
type Result struct {
	Status int // 0 when the request never got an answer
	// Rejected is the partial-success count of rejected spans (200 only).
	Rejected int64
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
	Err        error
}

// Retryable reports whether an OTLP client should retry this outcome.
func (r Result) Retryable() bool {
	switch r.Status {
	case 0:
		return r.Err != nil && !errors.Is(r.Err, context.Canceled)
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Post sends one body once.
func (c *Client) Post(ctx context.Context, body []byte, json bool, headers map[string]string) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Result{Err: err}
	}
	ct := "application/x-protobuf"
	if json {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	if c.host != "" {
		req.Host = c.host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	res := Result{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	if err != nil {
		res.Err = err
		return res
	}
	if resp.StatusCode != http.StatusOK {
		res.Err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data[:min(len(data), 200)]))
		return res
	}
	if len(data) > 0 {
		er := ptraceotlp.NewExportResponse()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			err = er.UnmarshalJSON(data)
		} else {
			err = er.UnmarshalProto(data)
		}
		if err == nil {
			res.Rejected = er.PartialSuccess().RejectedSpans()
		}
	}
	return res
}

// Probe sends an empty trace request and reports whether the endpoint
// answered 200.
func (c *Client) Probe(ctx context.Context) error {
	body, _ := ptraceotlp.NewExportRequestFromTraces(ptrace.NewTraces()).MarshalProto()
	r := c.Post(ctx, body, false, nil)
	if r.Status == http.StatusOK {
		return nil
	}
	if r.Err != nil {
		return r.Err
	}
	return fmt.Errorf("HTTP %d", r.Status)
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
