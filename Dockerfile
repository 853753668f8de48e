# The controller image: Node 24 with the tools the pipeline shells out to (git and ssh for fetch, kustomize and
# its Landlock sandbox for build, gpg for OpenPGP keys that only the gpg binary can open). `docker build .` or
# `podman build .` pulls the official base images; where no registry is reachable, scripts/image.sh makes
# equivalent ones locally and passes them as NODE_IMAGE and GO_IMAGE (that is how the tests build it).
ARG NODE_IMAGE=node:24-bookworm-slim
ARG GO_IMAGE=golang:1.26-bookworm
ARG KUSTOMIZE_VERSION=v5.8.2

FROM ${GO_IMAGE} AS tools
ARG KUSTOMIZE_VERSION
RUN CGO_ENABLED=0 GOTOOLCHAIN=local go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
# The Landlock fence around kustomize (sandbox/main.go): kustomize can read only its build view.
COPY sandbox /src/sandbox
RUN cd /src/sandbox && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags="-s -w" -o /go/bin/kustodian-sandbox .

FROM ${NODE_IMAGE} AS bundle
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY model ./model
COPY operator ./operator
COPY scripts/bundle.ts ./scripts/
# Built JavaScript, one chunk per lazily loaded library: no TypeScript stripping and no node_modules at run time.
RUN node scripts/bundle.ts --outdir /app

FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client gnupg ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=tools /go/bin/kustomize /go/bin/kustodian-sandbox /usr/local/bin/
COPY --from=bundle /app /app
USER 65532:65532
ENV NODE_ENV=production HOME=/tmp
# The heap follows the container's memory limit (75% of it), leaving room for kustomize and git children.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-old-space-size-percentage=75", "--enable-source-maps", "/app/kustodian.mjs"]
CMD ["controller"]
