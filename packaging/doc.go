// Package packaging holds what installs Interoceptor without Go: the systemd
// unit and sysusers.d file (systemd/), the default config the tarball and the
// unit use (interoceptor.toml) and the Kubernetes manifests (kubernetes/).
// Its tests check them, the Dockerfile, scripts/dist.sh's binaries and the
// licences of the modules compiled into the binary, with what runs here (no
// container runtime, no cluster).
package packaging
