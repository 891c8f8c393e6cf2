// A tools module: pinned tools off the line are allowed here.
module example.com/dist/internal/tools

go 1.25.0

tool go.opentelemetry.io/collector/cmd/mdatagen

require go.opentelemetry.io/collector/cmd/mdatagen v0.150.0 // indirect
