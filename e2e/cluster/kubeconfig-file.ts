/** Writing kubeconfig files with inline credentials, so they work from any directory. */
import { writeFileSync } from "node:fs"
import { stringify } from "yaml"

export interface KubeconfigUser {
  readonly name: string
  readonly clientCertificate?: string
  readonly clientKey?: string
  readonly token?: string
}

const b64 = (pem: string): string => Buffer.from(pem).toString("base64")

/** A single-context kubeconfig document for `server` (trusting `caPem`) and one user. */
export const kubeconfigYaml = (opts: {
  readonly clusterName: string
  readonly server: string
  readonly caPem: string
  readonly user: KubeconfigUser
  readonly namespace?: string
}): string =>
  stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: opts.clusterName,
        cluster: { server: opts.server, "certificate-authority-data": b64(opts.caPem) },
      },
    ],
    users: [
      {
        name: opts.user.name,
        user: {
          ...(opts.user.clientCertificate
            ? { "client-certificate-data": b64(opts.user.clientCertificate) }
            : {}),
          ...(opts.user.clientKey ? { "client-key-data": b64(opts.user.clientKey) } : {}),
          ...(opts.user.token ? { token: opts.user.token } : {}),
        },
      },
    ],
    contexts: [
      {
        name: opts.clusterName,
        context: {
          cluster: opts.clusterName,
          user: opts.user.name,
          ...(opts.namespace ? { namespace: opts.namespace } : {}),
        },
      },
    ],
    "current-context": opts.clusterName,
  })

/** Writes a kubeconfig readable only by the owner (it holds credentials). */
export const writeKubeconfig = (path: string, yaml: string): void => {
  writeFileSync(path, yaml, { mode: 0o600 })
}
