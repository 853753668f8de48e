/**
 * Throwaway X.509 material for test servers (kube-apiserver, git over HTTPS), made with the `openssl` CLI:
 * ECDSA P-256 keys, certificates valid for 7 days, like envtest's tiny CA. Test code only.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** PEM-encoded certificate and its PKCS#8 private key. */
export interface CertPair {
  readonly cert: string
  readonly key: string
}

export interface IssueOptions {
  readonly commonName: string
  /** Certificate subject O= entries; Kubernetes reads them as the user's groups. */
  readonly organizations?: ReadonlyArray<string>
  /** DNS names and IP addresses for a serving certificate. */
  readonly dnsNames?: ReadonlyArray<string>
  readonly ipAddresses?: ReadonlyArray<string>
  readonly usage: "server" | "client"
}

const openssl = (args: ReadonlyArray<string>, cwd: string): void => {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] })
}

const withTemp = <A>(f: (dir: string) => A): A => {
  const dir = mkdtempSync(join(tmpdir(), "kustodian-tls-"))
  try {
    return f(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const subject = (cn: string, orgs: ReadonlyArray<string> = []): string =>
  [...orgs.map((o) => `/O=${o}`), `/CN=${cn}`].join("")

/** A new self-signed certificate authority. */
export const makeCa = (commonName = "kustodian-test-ca"): CertPair =>
  withTemp((dir) => {
    openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "7",
        "-subj",
        subject(commonName, ["kustodian-test"]),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ],
      dir,
    )
    return { cert: readFileSync(join(dir, "ca.crt"), "utf8"), key: readFileSync(join(dir, "ca.key"), "utf8") }
  })

/** A leaf certificate signed by `ca`, for a server (SANs) or a client (CN = user, O = groups). */
export const issueCert = (ca: CertPair, opts: IssueOptions): CertPair =>
  withTemp((dir) => {
    writeFileSync(join(dir, "ca.crt"), ca.cert)
    writeFileSync(join(dir, "ca.key"), ca.key, { mode: 0o600 })
    const sans = [
      ...(opts.dnsNames ?? []).map((d) => `DNS:${d}`),
      ...(opts.ipAddresses ?? []).map((i) => `IP:${i}`),
    ]
    const ext = [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      `extendedKeyUsage=${opts.usage === "server" ? "serverAuth" : "clientAuth"}`,
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(",")}`] : []),
    ]
    writeFileSync(join(dir, "ext.cnf"), `${ext.join("\n")}\n`)
    openssl(
      [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        subject(opts.commonName, opts.organizations),
      ],
      dir,
    )
    openssl(
      [
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "7",
        "-sha256",
        "-extfile",
        "ext.cnf",
        "-out",
        "leaf.crt",
      ],
      dir,
    )
    return {
      cert: readFileSync(join(dir, "leaf.crt"), "utf8"),
      key: readFileSync(join(dir, "leaf.key"), "utf8"),
    }
  })

/** An ECDSA P-256 key pair as PEM (PKCS#8 private, SPKI public), e.g. the ServiceAccount token signer. */
export const makeKeyPair = (): { readonly privateKey: string; readonly publicKey: string } =>
  withTemp((dir) => {
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.key"], dir)
    openssl(["pkey", "-in", "k.key", "-pubout", "-out", "k.pub"], dir)
    return {
      privateKey: readFileSync(join(dir, "k.key"), "utf8"),
      publicKey: readFileSync(join(dir, "k.pub"), "utf8"),
    }
  })
