# The controller image: Node 24 with the tools the pipeline shells out to (git and ssh for fetch, kustomize and
# its Landlock sandbox for build, gpg for OpenPGP keys that only the gpg binary can open). Not built on our own
# machines (no Docker engine there); Tilt and CI systems with Docker build it.
ARG NODE_VERSION=24
ARG GO_VERSION=1.26
ARG KUSTOMIZE_VERSION=v5.8.2

FROM golang:${GO_VERSION}-bookworm AS tools
ARG KUSTOMIZE_VERSION
RUN CGO_ENABLED=0 GOTOOLCHAIN=local go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
# The Landlock fence around kustomize (sandbox/main.go): kustomize can read only its build view.
COPY sandbox /src/sandbox
RUN cd /src/sandbox && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags="-s -w" -o /go/bin/kustodian-sandbox .

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client gnupg ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=tools /go/bin/kustomize /go/bin/kustodian-sandbox /usr/local/bin/
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY model ./model
COPY operator ./operator
USER 65532:65532
ENV NODE_ENV=production HOME=/tmp
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/operator/bin/kustodian.ts"]
CMD ["controller"]
