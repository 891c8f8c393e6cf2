package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/tracebound/tracebound/testbed/scenario"
)

func main() {
	bin := flag.String("binary", "bin/otelcol-tracebound", "")
	name := flag.String("scenario", "steady", "")
	quick := flag.Bool("quick", false, "")
	flag.Parse()
	sc, _ := scenario.Find(*name)
	res := scenario.Execute(context.Background(), scenario.Options{Binary: *bin, Quick: *quick, Log: os.Stderr}, sc)
	b, _ := json.MarshalIndent(res, "", " ")
	_ = b
	fmt.Println(res.Status, res.Reason)
	for _, c := range res.Checks {
		fmt.Println(c.Kind, c.Pass, c.Name, c.Detail)
	}
}
