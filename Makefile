# tracebound: build, run and test the distribution.
# Everything a fresh machine with Go and make needs is installed here, pinned.

SHELL        := /bin/bash
GO           ?= go
# The collector line every module is on: core's stable modules at
# CORE_VERSION, the others (contrib's too) at LINE_VERSION. `make test` fails
# when a go.mod or ocb manifest strays from it.
CORE_VERSION := v1.71.0
LINE_VERSION := v0.165.0
OCB_VERSION  := $(LINE_VERSION)
# Our modules' version, on the collector's line: v0.165.N (README, "Using
# our components in your own ocb build").
VERSION      ?= $(LINE_VERSION)
TOOLS_BIN    := $(CURDIR)/.tools/bin
OCB          := $(TOOLS_BIN)/builder
JAEGER       := $(TOOLS_BIN)/jaeger
JAEGER_MOD   := internal/tools/jaeger
BINARY       := bin/otelcol-tracebound
USER_BUILD   := bin/user-build/otelcol-user-build
CONFIG       ?= configs/local.yaml
# The load-balancing agent (the scale-out scenario's, and the gateway
# topology's node agent): its own ocb manifest, testbed/agent/.
LB_AGENT     := .tools/lb-agent/otelcol-lb-agent
IMAGE        ?= tracebound:dev
AGENT_IMAGE  ?= tracebound-agent:dev
# Sources that go into the binaries: our components, the internal module
# they share, and those modules' go.mod and go.sum (tests, tools and the
# testbed do not).
GO_SOURCES   := $(shell find extension processor exporter internal \( -name '*.go' -not -name '*_test.go' -o -name go.mod -o -name go.sum \) -not -path 'internal/tools/*' 2>/dev/null)
COMPONENT_DIRS := $(patsubst %/metadata.yaml,%,$(wildcard */*/metadata.yaml))
# The workspace modules (go.work) by folder, "." the root (expanded only by
# the targets that use them); the tools module internal/tools pins versions
# of its own and stays out.
MODULE_DIRS   = $(patsubst $(CURDIR),.,$(patsubst $(CURDIR)/%,%,$(shell $(GO) list -m -f '{{.Dir}}' 2>/dev/null)))
# Modules whose tests run the built binary or load tests: without -race, as
# the race detector would slow the collector they measure.
NORACE_MODULES := . testbed
RACE_MODULES  = $(filter-out $(NORACE_MODULES),$(MODULE_DIRS))
# Every package of the given module folders, from the root (go.work).
packages      = $(foreach d,$(1),$(if $(filter .,$(d)),./...,./$(d)/...))
# internal/tools/modules: go.mod sync, the collector line check, release-check.
MODULES_CMD  := cd internal/tools && GOWORK=off $(GO) run ./modules
LINE_FLAGS   := -core $(CORE_VERSION) -line $(LINE_VERSION)

.PHONY: all build user-build lb-agent run test check-line tidy release-check check-generate bench lint fmt generate docker docker-agent jaeger testbed testbed-quick testbed-real-backend clean

all: build

$(OCB):
	GOBIN=$(TOOLS_BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

# The binary depends on every non-test source, so a second `make build` with
# nothing changed does nothing; when sources change, ocb regenerates and the Go
# build cache keeps the rebuild incremental.
# ocb writes a module of its own into bin/ and takes ours through the
# manifest's replaces, so it runs outside the workspace (GOWORK=off).
$(BINARY): $(OCB) builder-config.yaml $(GO_SOURCES)
	GOWORK=off CGO_ENABLED=0 $(OCB) --config builder-config.yaml
	@touch $(BINARY)

# A user's own ocb build (examples/user-build/manifest.yaml): stock
# components plus two of ours, each by its own gomod: line. e2e's
# TestUserBuildDropIn builds it through this target and runs it.
$(USER_BUILD): $(OCB) examples/user-build/manifest.yaml $(GO_SOURCES)
	GOWORK=off CGO_ENABLED=0 $(OCB) --config examples/user-build/manifest.yaml
	@touch $(USER_BUILD)

# Serialised with flock: tests in several packages may ask for the binary at
# once, and ocb writes one shared output folder (bin/, generated sources
# beside the binary).
build:
	@mkdir -p bin
	flock bin/.build.lock $(MAKE) --no-print-directory $(BINARY)

# Rebuilt only when its manifest or the sources of the modules it takes from
# this checkout change (otlpuds and the internal module). Under .tools, not bin/, so `make clean` keeps the build:
# the first one downloads and compiles the exporter's Kubernetes and AWS
# clients. ocb writes a module of its own there, outside the workspace
# (GOWORK=off), and takes otlpuds through the manifest's replaces.
$(LB_AGENT): $(OCB) testbed/agent/builder-config.yaml $(filter extension/otlpudsreceiver/% internal/%,$(GO_SOURCES))
	GOWORK=off CGO_ENABLED=0 $(OCB) --config testbed/agent/builder-config.yaml
	@touch $(LB_AGENT)

lb-agent:
	@mkdir -p .tools
	flock .tools/.lb-agent.lock $(MAKE) --no-print-directory $(LB_AGENT)

user-build:
	@mkdir -p bin
	flock bin/.user-build.lock $(MAKE) --no-print-directory $(USER_BUILD)

run: build
	@mkdir -p run
	$(BINARY) --config $(CONFIG)

# The collector line and generated-file checks first; then every module's tests: components and
# the internal module under the race detector (unit, golden, property and
# fuzz-seed tests), then the end-to-end tests (root module) and the
# testbed's quick mode, which build the binaries through make and run them;
# then the tools module's own tests.
test: check-line check-generate
	$(GO) test -race -count=1 -timeout 10m $(call packages,$(RACE_MODULES))
	$(GO) test -count=1 -timeout 15m $(call packages,$(NORACE_MODULES))
	cd internal/tools && GOWORK=off $(GO) test -count=1 ./...

# Fails, naming each, when a collector module in a go.mod or ocb manifest
# strays off CORE_VERSION / LINE_VERSION or two modules disagree.
check-line:
	@$(MODULES_CMD) line $(LINE_FLAGS)

# Fails, naming the files, when make generate changes any: a metadata.yaml
# edited without regenerating its code or its README's status table.
GENERATED     = find $(COMPONENT_DIRS) \( -name README.md -o -name documentation.md -o -name 'generated_*.go' \) -type f -exec md5sum {} + | sort
check-generate:
	@before="$$($(GENERATED))"; \
	$(MAKE) --no-print-directory generate >/dev/null || exit 1; \
	after="$$($(GENERATED))"; \
	if [ "$$before" != "$$after" ]; then \
		echo "FAIL: make generate changed files (now regenerated; commit them):"; \
		diff <(echo "$$before") <(echo "$$after") | grep '^>' | awk '{print "  " $$3}'; exit 1; \
	fi

# After adding a module, a dependency or an import of another of our
# modules: sibling requires at VERSION and replaces in every go.mod, go.work,
# then go mod tidy in every module.
tidy:
	$(MODULES_CMD) sync -version $(VERSION)

# Each module alone as a user's build takes it (GOWORK=off, only sibling
# replaces): on the line, go mod tidy leaves no diff, builds, tests; then the
# tags a release of VERSION creates. RELEASE_TEST_ARGS adds go test flags
# (-run '^$$' builds every test without running it).
RELEASE_TEST_ARGS ?=
release-check:
	$(MODULES_CMD) release-check -version $(VERSION) $(LINE_FLAGS) -no-race "$(NORACE_MODULES)" -test-args "$(RELEASE_TEST_ARGS)"

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(call packages,$(MODULE_DIRS))

lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(call packages,$(MODULE_DIRS))
	cd internal/tools && GOWORK=off $(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Regenerates internal/metadata of every component from its metadata.yaml
# with mdatagen, pinned in the separate tools module, and the status table
# at the top of its README.
generate:
	@for d in $(COMPONENT_DIRS); do \
		echo "mdatagen $$d"; \
		(cd internal/tools && GOWORK=off $(GO) tool mdatagen ../../$$d/metadata.yaml) || exit 1; \
	done

docker:
	docker build -t $(IMAGE) .

# The gateway's node agent (deploy/kubernetes/gateway/): the Dockerfile's
# stage agent, the build of `make lb-agent`.
docker-agent:
	docker build --target agent -t $(AGENT_IMAGE) .

# Jaeger v2 all-in-one, the real backend of the real-backend scenario, built
# from its Go module, pinned in a tools module of its own so its dependencies
# stay out of the main module's graph. The first build takes 12 minutes or
# more on 2 cores (a 121 MB binary); it is rebuilt only when the tools
# module's go.mod or go.sum changes. Built beside and moved into place, so an
# interrupted build never leaves a binary make takes as up to date.
# GOWORK=off: the tools module is outside go.work, whose modules would
# otherwise refuse a build from its folder.
$(JAEGER): $(JAEGER_MOD)/go.mod $(JAEGER_MOD)/go.sum
	@mkdir -p $(TOOLS_BIN)
	cd $(JAEGER_MOD) && GOWORK=off CGO_ENABLED=0 $(GO) build -o $(JAEGER).tmp github.com/jaegertracing/jaeger/cmd/jaeger
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
