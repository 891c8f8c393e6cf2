package loadgen

import "testing"

// BenchmarkBuild measures the generator's cost per span (plan, pdata and
// protobuf encoding), which the testbed's own CPU share depends on.
func BenchmarkBuild(b *testing.B) {
	cfg := Config{Endpoint: "/x", Duration: 1, Identity: &Identity{Component: "c"}}
	if err := cfg.applyDefaults(); err != nil {
		b.Fatal(err)
	}
	p := newPlanner(cfg.Trace)
	pb := newPayloadBuilder(&cfg)
	specs := make([]spanSpec, 500)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.fill(specs)
		if _, err := pb.build(specs, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(specs)), "ns/span")
}
