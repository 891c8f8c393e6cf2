// Command testbed load-tests the built tracebound binary beside the stock
// pipeline and writes the report (see testbed/README.md).
//
//	go run ./testbed/cmd/testbed -binary bin/otelcol-tracebound -out testbed/results
//	go run ./testbed/cmd/testbed -scenario steady -rate 20000 -duration 30s
//	go run ./testbed/cmd/testbed -scenario real-backend -jaeger .tools/bin/jaeger
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tracebound/tracebound/testbed/report"
	"github.com/tracebound/tracebound/testbed/scenario"
)

func main() {
	os.Exit(run())
}

func run() int {
	binary := flag.String("binary", "bin/otelcol-tracebound", "collector binary to test (built by make build)")
	agent := flag.String("agent", ".tools/lb-agent/otelcol-lb-agent", "load-balancing agent for scale-out (built by make lb-agent); missing: scale-out is skipped")
	jaegerBin := flag.String("jaeger", "", "Jaeger v2 all-in-one binary for the real-backend scenario (built by make jaeger into .tools/bin/jaeger); none: that scenario is skipped")
	out := flag.String("out", "testbed/results", "folder for <scenario>.json, <scenario>.png and SUMMARY.md")
	only := flag.String("scenario", "", "run only these scenarios (comma-separated); default: all")
	rate := flag.Int("rate", 0, "offered rate in spans/s, replacing each scenario's own (steady: one rate; max-rate: the first step)")
	duration := flag.Duration("duration", 0, "load duration, replacing each scenario's own (steady: per run; max-rate: per step; lifecycle: a ceiling)")
	quick := flag.Bool("quick", false, "quick mode: small rates, a few seconds each; timing checks are reported, not asserted")
	workdir := flag.String("workdir", "", "keep each scenario's collector configs and logs in <workdir>/<scenario> (default: a temporary folder, removed)")
	heap := flag.String("heap-profiles", "", "add the pprof extension to every collector and save its heap profile every -heap-profile-every in <folder>/<scenario>/")
	heapEvery := flag.Duration("heap-profile-every", 2*time.Second, "how often -heap-profiles saves a profile")
	list := flag.Bool("list", false, "list the scenarios and exit")
	flag.Parse()

	if *list {
		for _, s := range scenario.All() {
			fmt.Printf("%-13s %s\n", s.Name, s.Title)
		}
		return 0
	}
	scenarios := scenario.All()
	if *only != "" {
		scenarios = nil
		for _, name := range strings.Split(*only, ",") {
			s, ok := scenario.Find(strings.TrimSpace(name))
			if !ok {
				fmt.Fprintf(os.Stderr, "testbed: unknown scenario %q (try -list)\n", name)
				return 2
			}
			scenarios = append(scenarios, s)
		}
	}
	if _, err := os.Stat(*binary); err != nil {
		fmt.Fprintf(os.Stderr, "testbed: %v (run make build first)\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := scenario.Options{Binary: *binary, AgentBinary: *agent, Jaeger: *jaegerBin, WorkDir: *workdir, Quick: *quick, Rate: *rate, Duration: *duration, HeapProfiles: *heap, HeapProfileEvery: *heapEvery, Log: os.Stderr}
	start := time.Now()
	bad := 0
	for _, s := range scenarios {
		if ctx.Err() != nil {
			break
		}
		res := scenario.Execute(ctx, opts, s)
		if res.Status == scenario.StatusSkipped {
			fmt.Fprintf(os.Stderr, "== %s %s\n", s.Name, res.Reason)
		}
		if res.Status == scenario.StatusFailed || res.Status == scenario.StatusError {
			bad++
			fmt.Fprintf(os.Stderr, "== %s %s: %s\n", s.Name, res.Status, res.Reason)
		}
		if err := report.Write(*out, res); err != nil {
			fmt.Fprintf(os.Stderr, "testbed: %v\n", err)
			return 1
		}
	}
	results, err := report.Load(*out)
	if err == nil {
		err = report.WriteSummary(*out, results, report.ThisMachine(*binary))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testbed: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "testbed: %d scenarios in %s; report in %s/SUMMARY.md\n", len(scenarios), time.Since(start).Round(time.Second), *out)
	if bad > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}
