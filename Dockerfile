# The Interoceptor image: a static binary on distroless, run as nonroot.
#
#   docker build -t interoceptor --build-arg VERSION=$(git describe --tags --always) .
#   docker run -v ./my.toml:/etc/interoceptor/interoceptor.toml:ro interoceptor
#
# The build goes through `make build`, so the version flags are the
# Makefile's.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN make build VERSION="${VERSION}" && mkdir -p /out/var/lib/interoceptor

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/interoceptor /usr/local/bin/interoceptor
COPY --from=build /src/packaging/interoceptor.toml /etc/interoceptor/interoceptor.toml
COPY --from=build /src/LICENSE /src/NOTICE /usr/share/doc/interoceptor/
# data_dir: checkpoints, disk buffers and the JetStream store outlive the
# container there. The folder is made nonroot's here, as a new volume takes
# the image's owner (distroless has no shell to chown it).
COPY --from=build --chown=65532:65532 /out/var/lib/interoceptor /var/lib/interoceptor
VOLUME ["/var/lib/interoceptor"]
# The admin API (/healthz, /metrics), once INTEROCEPTOR_ADMIN_ADDR=:8377 and
# INTEROCEPTOR_ADMIN_TOKEN are set; the default config listens on nothing else.
EXPOSE 8377
USER 65532:65532
WORKDIR /var/lib/interoceptor
ENTRYPOINT ["/usr/local/bin/interoceptor"]
CMD ["run", "-config", "/etc/interoceptor/interoceptor.toml", "-log-format", "json"]
