# tracebound: build, run and test the distribution.
# Everything a fresh machine with Go and make needs is installed here, pinned.

SHELL        := /bin/bash
GO           ?= go
OCB_VERSION  := v0.165.0
TOOLS_BIN    := $(CURDIR)/.tools/bin
OCB          := $(TOOLS_BIN)/builder
JAEGER       := $(TOOLS_BIN)/jaeger
JAEGER_MOD   := internal/tools/jaeger
BINARY       := bin/otelcol-tracebound
CONFIG       ?= configs/local.yaml
# The testbed's load-balancing agent (scale-out scenario): its own ocb
# manifest on the v0.160.0 collector line, built by ocb v0.160.0; see
# testbed/README.md for why it is pinned there.
LB_AGENT_OCB_VERSION := v0.160.0
LB_AGENT_OCB := $(CURDIR)/.tools/ocb-$(LB_AGENT_OCB_VERSION)/builder
LB_AGENT     := .tools/lb-agent/otelcol-lb-agent
IMAGE        ?= tracebound:dev
# Sources that go into the binary: our components and the internal packages
# they share (tests, tools and the testbed do not).
GO_SOURCES   := $(shell find extension processor exporter internal -name '*.go' -not -name '*_test.go' -not -path 'internal/tools/*' 2>/dev/null)
COMPONENT_DIRS := $(patsubst %/metadata.yaml,%,$(wildcard */*/metadata.yaml))

.PHONY: all build lb-agent run test bench lint fmt generate docker jaeger testbed testbed-quick testbed-real-backend clean

all: build

$(OCB):
	GOBIN=$(TOOLS_BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

# The binary depends on every non-test source, so a second `make build` with
# nothing changed does nothing; when sources change, ocb regenerates and the Go
# build cache keeps the rebuild incremental.
$(BINARY): $(OCB) builder-config.yaml go.mod go.sum $(GO_SOURCES)
	CGO_ENABLED=0 $(OCB) --config builder-config.yaml
	@touch $(BINARY)

# Serialised with flock: tests in several packages may ask for the binary at
# once, and ocb writes one shared output folder (bin/, generated sources
# beside the binary).
build:
	@mkdir -p bin
	flock bin/.build.lock $(MAKE) --no-print-directory $(BINARY)

$(LB_AGENT_OCB):
	GOBIN=$(dir $(LB_AGENT_OCB)) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(LB_AGENT_OCB_VERSION)

# Rebuilt only when its manifest changes (its modules are all pinned
# there). Under .tools, not bin/, so `make clean` keeps the build: the first
# one downloads and compiles the exporter's Kubernetes and AWS clients.
$(LB_AGENT): $(LB_AGENT_OCB) testbed/agent/builder-config.yaml
	CGO_ENABLED=0 $(LB_AGENT_OCB) --config testbed/agent/builder-config.yaml
	@touch $(LB_AGENT)

lb-agent:
	@mkdir -p .tools
	flock .tools/.lb-agent.lock $(MAKE) --no-print-directory $(LB_AGENT)

run: build
	@mkdir -p run
	$(BINARY) --config $(CONFIG)

# Components and their shared internal packages: unit, golden, property and
# fuzz-seed tests under the race detector. Then the end-to-end tests and the testbed's quick mode, which
# build the binary through `make build` and run it.
test:
	$(GO) test -race -count=1 -timeout 10m ./internal/... ./extension/... ./processor/... ./exporter/...
	$(GO) test -count=1 -timeout 15m ./e2e/... ./testbed/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Regenerates internal/metadata of every component from its metadata.yaml
# with mdatagen, pinned in the separate tools module.
generate:
	@for d in $(COMPONENT_DIRS); do \
		echo "mdatagen $$d"; \
		(cd internal/tools && $(GO) tool mdatagen ../../$$d/metadata.yaml) || exit 1; \
	done

docker:
	docker build -t $(IMAGE) .

# Jaeger v2 all-in-one, the real backend of the real-backend scenario, built
# from its Go module, pinned in a tools module of its own so its dependencies
# stay out of the main module's graph. The first build takes 12 minutes or
# more on 2 cores (a 121 MB binary); it is rebuilt only when the tools
# module's go.mod or go.sum changes. Built beside and moved into place, so an
# interrupted build never leaves a binary make takes as up to date.
$(JAEGER): $(JAEGER_MOD)/go.mod $(JAEGER_MOD)/go.sum
	@mkdir -p $(TOOLS_BIN)
	cd $(JAEGER_MOD) && CGO_ENABLED=0 $(GO) build -o $(JAEGER).tmp github.com/jaegertracing/jaeger/cmd/jaeger
	mv $(JAEGER).tmp $(JAEGER)

jaeger: $(JAEGER)

# Every scenario at full size (about 12 minutes on 2 cores, plus the first
# builds of the scale-out agent and Jaeger); the report goes to
# testbed/results/SUMMARY.md with a chart per scenario.
testbed: build lb-agent $(JAEGER)
	$(GO) run ./testbed/cmd/testbed -binary $(BINARY) -agent $(LB_AGENT) -jaeger $(JAEGER) -out testbed/results

# The real-backend scenario alone (building Jaeger first if needed), into
# the committed report beside the other scenarios' results.
testbed-real-backend: build $(JAEGER)
	$(GO) run ./testbed/cmd/testbed -binary $(BINARY) -jaeger $(JAEGER) -scenario real-backend -out testbed/results

# Small rates, a few seconds each, into a temp folder so the committed report
# stays as it is. scale-out runs only if the agent was already built,
# real-backend only if Jaeger was.
testbed-quick: build
	$(GO) run ./testbed/cmd/testbed -binary $(BINARY) -quick -agent $(LB_AGENT) $(if $(wildcard $(JAEGER)),-jaeger $(JAEGER)) -out $${TMPDIR:-/tmp}/tracebound-testbed

clean:
	rm -rf bin run
