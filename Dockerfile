# syntax=docker/dockerfile:1
# Builds the same way as `make build`: the pinned ocb from builder-config.yaml,
# from this repository's own modules, into bin/otelcol-tracebound. The
# default (last) stage is tracebound's image (`make docker`); the stage
# `agent` is the gateway's node agent (`make docker-agent`,
# deploy/kubernetes/gateway/): the build of testbed/agent/builder-config.yaml
# (`make lb-agent`: otlpuds and the contrib load_balancing exporter).

FROM golang:1.26-bookworm AS src
# make drives the build exactly as on a developer machine; flock (util-linux)
# is already in the image.
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The socket folder must exist and belong to the runtime user: the final
# images have no shell to create it.
RUN mkdir -p /out/run/tracebound

# The same make build as on a developer machine: ocb on builder-config.yaml,
# each component taken as its own Go module through the manifest's replaces
# to this checkout's folders. Module downloads and the Go build cache live in
# BuildKit cache mounts, so a source edit rebuilds incrementally (the module
# set is ocb's generated go.mod, known only once ocb has run, so no earlier
# download layer can hold it). CGO_ENABLED=0 is set by the Makefile's build,
# so the binary is static and runs on distroless/static.
FROM src AS build
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    make build

# The agent's build, the same way (its own ocb manifest).
FROM src AS agent-build
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    make lb-agent

# The gateway's node agent: its config comes from a ConfigMap
# (deploy/kubernetes/gateway/agent-configmap.yaml), so the image has none.
FROM gcr.io/distroless/static-debian12:nonroot AS agent
COPY --from=agent-build /src/.tools/lb-agent/otelcol-lb-agent /usr/local/bin/otelcol-lb-agent
COPY --from=src --chown=65532:65532 /out/run/tracebound /run/tracebound
USER 65532:65532
# health_check.
EXPOSE 13133
VOLUME ["/run/tracebound"]
ENTRYPOINT ["/usr/local/bin/otelcol-lb-agent"]

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/otelcol-tracebound /usr/local/bin/otelcol-tracebound
COPY --from=build /src/configs/docker.yaml /etc/tracebound/config.yaml
COPY --from=src --chown=65532:65532 /out/run/tracebound /run/tracebound
USER 65532:65532
# OTLP/HTTP over TCP, health_check.
EXPOSE 4318 13133
VOLUME ["/run/tracebound"]
ENTRYPOINT ["/usr/local/bin/otelcol-tracebound"]
CMD ["--config", "/etc/tracebound/config.yaml"]
