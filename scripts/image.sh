#!/usr/bin/env bash
# Builds the operator image with podman on a machine that reaches no container registry (ours): the Dockerfile's
# two base images are made here first — a Debian bookworm root filesystem from debootstrap, plus this project's
# Node (the node@24 npm package in node_modules) and npm for the Node stages, plus this machine's Go for the tools
# stage — and handed to the unchanged Dockerfile through its NODE_IMAGE and GO_IMAGE build arguments (their
# defaults are the official images a user's engine pulls). Test-only: users run `docker build .` or `podman build .`.
#
# Usage: scripts/image.sh            prints the image reference, building it unless one for these sources exists
# The tag is a hash of everything the build reads, so an unchanged checkout reuses the image (`podman rmi` it to
# force a rebuild). Caches under ${XDG_CACHE_HOME:-$HOME/.cache}/kustodian/images.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kustodian/images"
mkdir -p "$CACHE"
# Debian's podman here: rootful, runc, cgroupfs (no systemd), rlimits no higher than the machine's.
PODMAN=(podman --cgroup-manager=cgroupfs)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
log() { printf '[image] %s\n' "$*" >&2; }

command -v podman >/dev/null || { log "podman not found (bash scripts/tools.sh image installs it)"; exit 1; }

# ------------------------------------------------------------------------------------------------ base images
SUITE=bookworm
rootfs="$CACHE/debian-$SUITE-minbase.tar"
rootfs_image="localhost/kustodian-base/debian-rootfs:$SUITE"
cas="$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-8)"
base="localhost/kustodian-base/debian:$SUITE-ca$cas"
if ! "${PODMAN[@]}" image exists "$base"; then
  if [[ ! -f $rootfs ]]; then
    command -v debootstrap >/dev/null || { log "debootstrap not found (bash scripts/tools.sh image installs it)"; exit 1; }
    tmp="$(mktemp -d "$CACHE/.rootfs-XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    log "debootstrap $SUITE (minbase + ca-certificates) ..."
    start=$SECONDS
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$tmp" http://deb.debian.org/debian >&2
    # Like the official -slim images: no apt lists or caches in the layer.
    rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$tmp" -cf "$rootfs.tmp" .
    mv "$rootfs.tmp" "$rootfs"
    rm -rf "$tmp"
    trap - EXIT
    log "debootstrap done in $((SECONDS - start)) s"
  fi
  "${PODMAN[@]}" import --change 'CMD ["bash"]' "$rootfs" "$rootfs_image" >/dev/null
  # This machine's own CAs (/usr/local/share/ca-certificates): egress here goes through an intercepting proxy
  # whose CA every build step that fetches over TLS (Go modules, npm, apt) must trust.
  ctx="$(mktemp -d)"
  mkdir "$ctx/ca"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  cat >"$ctx/Containerfile" <<EOF
FROM $rootfs_image
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
EOF
  "${PODMAN[@]}" build "${LIMITS[@]}" --pull=never -q -t "$base" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

node_bin="$ROOT/node_modules/node/bin/node"
[[ -x $node_bin ]] || { log "no $node_bin: run npm ci first"; exit 1; }
node_version="$("$node_bin" -p process.versions.node)"
npm_dir="$(npm root -g)/npm"
npm_version="$(node -p "require('$npm_dir/package.json').version")"
node_image="localhost/kustodian-base/node:$node_version-$SUITE-slim-ca$cas"
if ! "${PODMAN[@]}" image exists "$node_image"; then
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  cp "$node_bin" "$ctx/node"
  cp -a "$npm_dir" "$ctx/npm"
  cat >"$ctx/Containerfile" <<EOF
FROM $base
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
# Node reads its own CA list, not the system's: point it at the system bundle (which holds the machine's CAs).
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.description="Test base: Debian $SUITE + Node $node_version + npm $npm_version"
EOF
  log "base image $node_image (npm $npm_version)"
  "${PODMAN[@]}" build "${LIMITS[@]}" --pull=never -q -t "$node_image" "$ctx" >/dev/null
  rm -rf "$ctx"
  trap - EXIT
fi

goroot="$(go env GOROOT)"
go_version="$(go env GOVERSION)"
go_image="localhost/kustodian-base/golang:${go_version#go}-$SUITE-ca$cas"
if ! "${PODMAN[@]}" image exists "$go_image"; then
  log "base image $go_image"
  "${PODMAN[@]}" build "${LIMITS[@]}" --pull=never -q -t "$go_image" -v "$goroot:/mnt/go:ro" -f - "$CACHE" >/dev/null <<EOF
FROM $base
RUN cp -a /mnt/go /usr/local/go && mkdir -p /go
ENV GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.description="Test base: Debian $SUITE + $go_version"
EOF
fi

# ------------------------------------------------------------------------------------------------ the image
# Everything the Dockerfile copies, plus the Dockerfile and the base images' names.
hash="$(
  cd "$ROOT" && {
    printf '%s\n' "$node_image" "$go_image"
    git ls-files -s -- Dockerfile package.json package-lock.json model operator scripts/bundle.ts sandbox
    git diff HEAD -- Dockerfile package.json package-lock.json model operator scripts/bundle.ts sandbox
  } | sha256sum | cut -c1-12
)"
image="localhost/kustodian:$hash"
if "${PODMAN[@]}" image exists "$image"; then
  log "$image exists"
else
  log "podman build -> $image"
  start=$SECONDS
  # The build stages fetch Go modules, npm packages and Debian packages: the host's network, as `docker build`.
  "${PODMAN[@]}" build "${LIMITS[@]}" --pull=never --network=host \
    --build-arg "NODE_IMAGE=$node_image" --build-arg "GO_IMAGE=$go_image" \
    -t "$image" "$ROOT" >&2
  log "built in $((SECONDS - start)) s"
fi
echo "$image"
