# syntax=docker/dockerfile:1
# swift-microepoch: the `epoch` server in a FROM-scratch image (docs/container.md).
#
# Online (Docker or podman with network): the full multi-stage build on the official Swift image.
#   make build                     # = docker|podman build --build-arg REV=$(git rev-parse --short HEAD) -t swift-microepoch:REV .
# Offline (no base image): only the runtime stage, from a binary built on the host by `make release`;
# the named build context replaces the `build` stage, so COPY --from=build reads DIR/rootfs/epoch.
#   make image                     # = podman build --pull=never --build-context build=DIR --target runtime ...
#
# Build args:
#   REV                 short commit served as `rev` and set as the revision label (default: the
#                       checkout's commit when .git is in the context, else "unknown"); EPOCH_REV is an alias
#   VERSION             version label and /version (0.1.0)
#   SWIFT_SDK           Swift SDK id for a musl build (x86_64-swift-linux-musl); used when installed in the
#                       build image, else glibc with -static-executable
#   SWIFT_SDK_URL/SWIFT_SDK_CHECKSUM  install the Static Linux SDK first (swift.org/install: matching 6.3)
#   SOURCE_URL, LICENSES  OCI labels

ARG SWIFT_IMAGE=docker.io/library/swift:6.3-noble

# ---- build: a fully static release binary at /rootfs/epoch ------------------------------------------
# The same flags as make release (mk/swift.mk), from tools/release-swift-flags: no TLS trait (no
# https:// client; NTS-KE's TLS is always in the server), every function in its own section; the
# release link's settings (lld, no unwind tables) are Package.swift's.
FROM ${SWIFT_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG SWIFT_SDK=x86_64-swift-linux-musl
ARG SWIFT_SDK_URL=""
ARG SWIFT_SDK_CHECKSUM=""
RUN if [ -n "${SWIFT_SDK_URL}" ]; then \
      swift sdk install "${SWIFT_SDK_URL}" --checksum "${SWIFT_SDK_CHECKSUM}"; \
    fi
WORKDIR /src
# Dependency resolution is its own layer: it reruns only when the manifest or the pins change.
COPY Package.swift Package.resolved* ./
RUN swift package resolve
COPY . .
ARG EPOCH_REV=""
ARG REV="${EPOCH_REV}"
ARG VERSION=0.1.0
RUN export EPOCH_REV="${REV}" EPOCH_VERSION="${VERSION}" \
    && if swift sdk list 2>/dev/null | grep -qE "static-linux|${SWIFT_SDK}"; then \
         echo "build: Static Linux SDK, --swift-sdk ${SWIFT_SDK} (musl, static)"; \
         set -- --swift-sdk "${SWIFT_SDK}"; \
       else \
         echo "build: glibc with -static-executable (no Static Linux SDK installed)"; \
         set -- -Xswiftc -static-executable; \
       fi \
    && while read -r flag; do case "${flag}" in '#'*|'') ;; *) set -- "$@" "${flag}" ;; esac; \
       done < tools/release-swift-flags \
    && swift build -c release --product epoch "$@" \
    && bin="$(swift build -c release "$@" --show-bin-path)/epoch" \
    && mkdir -p /rootfs \
    && strip --strip-all -o /rootfs/epoch "${bin}" \
    && if ldd /rootfs/epoch >/dev/null 2>&1; then \
         echo "build: /rootfs/epoch is not static:" >&2; ldd /rootfs/epoch >&2; exit 1; \
       fi \
    && ls -l /rootfs/epoch

# ---- runtime: the binary and nothing else -----------------------------------------------------------
# A static binary needs no libc, loader, /etc/passwd (numeric USER), CA certificates (the server speaks
# plain HTTP) or time zone data (it serves Unix seconds); the runtime provides /etc/hosts and /proc.
FROM scratch AS runtime
COPY --from=build /rootfs/epoch /epoch
# Labels after the COPY: the binary carries the rev, so a new rev always rebuilds them (buildah 1.28's
# layer cache ignores build-arg values; a LABEL step before the COPY would keep a stale revision).
ARG EPOCH_REV=""
ARG REV="${EPOCH_REV}"
ARG VERSION=0.1.0
ARG SOURCE_URL=https://github.com/swift-microepoch/swift-microepoch
ARG LICENSES=Apache-2.0
LABEL org.opencontainers.image.title="swift-microepoch" \
      org.opencontainers.image.description="epoch: the current Unix time as JSON, a SwiftNIO server" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REV}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="${LICENSES}"
# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd.
USER 65532:65532
EXPOSE 8080
# The server drains on SIGTERM (readyz 503, shutdown delay, in-flight requests finish) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/epoch"]
CMD ["serve"]
