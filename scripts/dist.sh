#!/usr/bin/env bash
# make dist: static linux binaries (CGO_ENABLED=0, -trimpath) packed as
# DIST_DIR/interoceptor_VERSION_linux_ARCH.tar.gz, one per DIST_ARCHES, each
# with the licence files, README.md, CHANGELOG.md, the default config and the
# systemd files; and DIST_DIR/SHA256SUMS (check with `sha256sum -c SHA256SUMS`).
# The Makefile passes VERSION and LDFLAGS, so that the version flags are
# written in one place.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${VERSION:?VERSION is not set (run make dist)}"
: "${LDFLAGS:?LDFLAGS is not set (run make dist)}"
GO="${GO:-go}"
DIST_DIR="${DIST_DIR:-dist}"
DIST_ARCHES="${DIST_ARCHES:-amd64 arm64}"
version="${VERSION#v}"

# Archives hold the same bytes for the same commit: sorted names, no owner,
# the commit's time as every file's time, gzip without a name or time stamp.
mtime="@$(git log -1 --format=%ct 2>/dev/null || echo 0)"

mkdir -p "$DIST_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

archives=()
for arch in $DIST_ARCHES; do
	name="interoceptor_${version}_linux_${arch}"
	root="$work/$name"
	mkdir -p "$root/systemd"
	echo "building $name"
	CGO_ENABLED=0 GOOS=linux GOARCH="$arch" "$GO" build -trimpath -ldflags "$LDFLAGS" \
		-o "$root/interoceptor" ./cmd/interoceptor
	cp LICENSE NOTICE README.md CHANGELOG.md "$root/"
	cp packaging/interoceptor.toml "$root/interoceptor.toml"
	cp packaging/systemd/interoceptor.service packaging/systemd/interoceptor-sysusers.conf "$root/systemd/"
	tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" -cf - "$name" |
		gzip -9n >"$DIST_DIR/$name.tar.gz"
	archives+=("$name.tar.gz")
done
(cd "$DIST_DIR" && sha256sum "${archives[@]}" >SHA256SUMS)
echo "$DIST_DIR: ${archives[*]} SHA256SUMS"
