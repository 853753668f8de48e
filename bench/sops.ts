/**
 * `npm run bench:sops`: the same sops files decrypted by Kustodian in process and by `sops decrypt` (one process
 * per file, as a shell pipeline would), side by side: files/s, p50/p99 latency, peak memory. Files: age and
 * RSA-4096 PGP × 1 and 50 values × 1 KiB and 1 MiB, encrypted by the real sops; AWS KMS × 1 and 50 values × 1 KiB
 * against moto's server (a local server of the KMS wire protocol: the numbers measure the client side and
 * loopback HTTP, not AWS's latency); Vault transit × 1 and 50 values × 1 KiB against the real Vault in dev mode;
 * GCP KMS × 1 and 50 values × 1 KiB against the local server of GCP KMS's wire protocol (gRPC over TLS, in a
 * process of its own). Results go to the "SOPS engine", "SOPS engine: AWS KMS", "SOPS engine: Vault transit" and
 * "SOPS engine: GCP KMS" sections of docs/benchmarks.md (other sections are kept).
 *
 * Env: BENCH_ITERATIONS (default 20), BENCH_SOPS_ITERATIONS (default 10). `--kms-only`, `--vault-only`,
 * `--gcp-kms-only`: only that provider's rows. Without one, bench/sops-azure.ts then adds the Azure Key Vault rows.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir, totalmem } from "node:os"
import { join, resolve } from "node:path"
import { performance } from "node:perf_hooks"
import { Effect, Exit, Scope } from "effect"
import { motoServer } from "../e2e/support/moto.ts"
import { hasTool, toolPath, toolVersions } from "../e2e/support/tools.ts"
import { vaultServer } from "../e2e/support/vault.ts"
import { ageKeygen, makeGpgKey, runSops, tempGnupgHome } from "../operator/src/sops/testing/peers.ts"

const repo = resolve(import.meta.dirname, "..")
const iterations = Number(process.env.BENCH_ITERATIONS ?? 20)
const sopsIterations = Number(process.env.BENCH_SOPS_ITERATIONS ?? 10)
const sops = toolPath("sops")
const dir = mkdtempSync(join(tmpdir(), "ksops-bench-"))
const gnupg = tempGnupgHome()

const cleanup = () => {
  gnupg.dispose()
  rmSync(dir, { recursive: true, force: true })
}
process.on("exit", cleanup)

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}

/** A YAML document of `values` keys whose values add up to about `size` bytes. */
const document = (values: number, size: number): string => {
  const per = Math.max(1, Math.floor(size / values) - 12)
  const lines: Array<string> = []
  for (let i = 0; i < values; i++) lines.push(`key${String(i).padStart(3, "0")}: ${"x".repeat(per)}`)
  return `${lines.join("\n")}\n`
}

console.error("generating keys (RSA-4096 gpg key, age key)…")
const age = ageKeygen(toolPath("age-keygen"))
const rsa = makeGpgKey(gnupg.home, "bench-rsa4096", "rsa4096")
const keyFile = join(dir, "keys.txt")
writeFileSync(keyFile, age.keyFile)
/** `--kms-only`, `--vault-only`, `--gcp-kms-only`: only that provider's rows; otherwise every section. */
const only = (["kms", "vault", "gcp-kms"] as const).find((p) => process.argv.includes(`--${p}-only`))
const measures = (section: "engine" | "kms" | "vault" | "gcp-kms" | "azure") =>
  only === undefined || only === section
interface GcpServer {
  readonly kmsEndpoint: string
  readonly tokenUrl: string
  readonly ca: string
  readonly keyJson: Record<string, string>
  readonly keyId: string
}
const startGcp = () => {
  console.error("starting the local GCP KMS server…")
  const child = spawn(process.execPath, [join(repo, "bench/gcp-kms-server-process.ts")], {
    stdio: ["pipe", "pipe", "inherit"],
  })
  // ends when its stdin closes
  process.on("exit", () => child.stdin.end())
  return new Promise<GcpServer & { readonly stop: () => void }>((resolveLine, reject) => {
    let buffered = ""
    child.stdout.on("data", (c: Buffer) => {
      buffered += c.toString("utf8")
      const nl = buffered.indexOf("\n")
      if (nl >= 0) resolveLine({ ...JSON.parse(buffered.slice(0, nl)), stop: () => child.stdin.end() })
    })
    child.on("exit", (code) => reject(new Error(`the GCP KMS server exited (${code})`)))
  })
}
const gcpKms = measures("gcp-kms") ? await startGcp() : undefined
const gcpEnv: Record<string, string> = {}
if (gcpKms !== undefined) {
  writeFileSync(join(dir, "gcp-ca.pem"), gcpKms.ca)
  writeFileSync(join(dir, "gcp-sa.json"), JSON.stringify(gcpKms.keyJson))
  Object.assign(gcpEnv, {
    SOPS_GCP_KMS_ENDPOINT: gcpKms.kmsEndpoint,
    SSL_CERT_FILE: join(dir, "gcp-ca.pem"),
    GOOGLE_CREDENTIALS: join(dir, "gcp-sa.json"),
  })
}
const motoScope = Effect.runSync(Scope.make())
// moto only when AWS KMS rows are measured
if (measures("kms")) console.error("starting moto's server (AWS KMS)…")
const moto = measures("kms") ? await Effect.runPromise(Scope.provide(motoScope)(motoServer())) : undefined
process.on("beforeExit", () => void Effect.runPromise(Scope.close(motoScope, Exit.void)))
const kmsArn = moto === undefined ? "" : await moto.createKey()
// Vault rows only when the Vault server is built (`bash scripts/tools.sh vault`)
const vault =
  measures("vault") && hasTool("vault")
    ? await Effect.runPromise(Scope.provide(motoScope)(vaultServer()))
    : undefined
if (measures("vault") && vault === undefined)
  console.error("no vault binary (bash scripts/tools.sh vault): no Vault transit rows")
const vaultUri = vault === undefined ? "" : await vault.createKey("bench", "sops")
const keyringPath = join(dir, "keyring.json")
writeFileSync(
  keyringPath,
  JSON.stringify({
    scope: "bench",
    age: [age.keyFile],
    pgp: [rsa.armored],
    ...(moto === undefined
      ? {}
      : {
          awsKms: {
            endpoint: moto.url,
            accessKeyId: moto.env.AWS_ACCESS_KEY_ID,
            secretAccessKey: moto.env.AWS_SECRET_ACCESS_KEY,
          },
        }),
    ...(gcpKms === undefined
      ? {}
      : {
          gcpKms: {
            kmsEndpoint: gcpKms.kmsEndpoint,
            tokenUrl: gcpKms.tokenUrl,
            ca: gcpKms.ca,
            keyJson: gcpKms.keyJson,
          },
        }),
    ...(vault === undefined ? {} : { vault: { token: vault.token } }),
  }),
)

interface Scenario {
  readonly name: string
  readonly file: string
  readonly kms?: boolean
  readonly vault?: boolean
  readonly gcp?: boolean
}
const scenarios: Array<Scenario> = []
for (const values of vault === undefined ? [] : [1, 50]) {
  const plain = join(dir, `vault-${values}.yaml`)
  writeFileSync(plain, document(values, 1024))
  const r = runSops(sops, ["encrypt", "--hc-vault-transit", vaultUri, plain], { cwd: dir, env: vault?.env })
  if (r.code !== 0) throw new Error(`sops encrypt --hc-vault-transit failed: ${r.stderr}`)
  const file = plain.replace(/\.yaml$/, ".enc.yaml")
  writeFileSync(file, r.stdout)
  scenarios.push({ name: `vault transit, ${values} value${values > 1 ? "s" : ""}, 1 KiB`, file, vault: true })
}
for (const values of moto === undefined ? [] : [1, 50]) {
  const plain = join(dir, `kms-${values}.yaml`)
  writeFileSync(plain, document(values, 1024))
  const r = runSops(sops, ["encrypt", "--kms", kmsArn, plain], { cwd: dir, env: moto?.env ?? {} })
  if (r.code !== 0) throw new Error(`sops encrypt --kms failed: ${r.stderr}`)
  const file = plain.replace(/\.yaml$/, ".enc.yaml")
  writeFileSync(file, r.stdout)
  scenarios.push({ name: `aws-kms, ${values} value${values > 1 ? "s" : ""}, 1 KiB`, file, kms: true })
}
const gcpKeyId = gcpKms?.keyId ?? ""
for (const values of gcpKms === undefined ? [] : [1, 50]) {
  const plain = join(dir, `gcp-kms-${values}.yaml`)
  writeFileSync(plain, document(values, 1024))
  const r = runSops(sops, ["encrypt", "--gcp-kms", gcpKeyId, plain], { cwd: dir, env: gcpEnv })
  if (r.code !== 0) throw new Error(`sops encrypt --gcp-kms failed: ${r.stderr}`)
  const file = plain.replace(/\.yaml$/, ".enc.yaml")
  writeFileSync(file, r.stdout)
  scenarios.push({ name: `gcp-kms, ${values} value${values > 1 ? "s" : ""}, 1 KiB`, file, gcp: true })
}
for (const key of measures("engine") ? (["age", "pgp-rsa4096"] as const) : [])
  for (const values of [1, 50])
    for (const [label, size] of [
      ["1 KiB", 1024],
      ["1 MiB", 1024 * 1024],
    ] as const) {
      const name = `${key}, ${values} value${values > 1 ? "s" : ""}, ${label}`
      const plain = join(dir, `${key}-${values}-${size}.yaml`)
      writeFileSync(plain, document(values, size))
      const args = key === "age" ? ["--age", age.recipient] : ["--pgp", rsa.fp]
      const r = runSops(sops, ["encrypt", ...args, plain], { cwd: dir, gnupgHome: gnupg.home })
      if (r.code !== 0) throw new Error(`sops encrypt failed: ${r.stderr}`)
      const file = plain.replace(/\.yaml$/, ".enc.yaml")
      writeFileSync(file, r.stdout)
      scenarios.push({ name, file })
    }

interface Result {
  readonly filesPerSecond: number
  readonly p50: number
  readonly p99: number
  readonly peakMiB: number
}

const summarise = (latencies: ReadonlyArray<number>, peakKiB: number): Result => ({
  filesPerSecond: 1000 / (latencies.reduce((a, b) => a + b, 0) / latencies.length),
  p50: quantile(latencies, 0.5),
  p99: quantile(latencies, 0.99),
  peakMiB: peakKiB / 1024,
})

const kustodian = (file: string, cache: boolean): Result => {
  const out = execFileSync(
    process.execPath,
    [join(repo, "bench/sops-worker.ts"), file, "yaml", keyringPath, String(iterations), cache ? "1" : "0"],
    { maxBuffer: 64 * 1024 * 1024 },
  ).toString("utf8")
  const r = JSON.parse(out) as { latencies: Array<number>; maxRssKiB: number }
  return summarise(r.latencies, r.maxRssKiB)
}

const timeBin = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined
const sopsDecrypt = (file: string): Result => {
  const env = {
    ...moto?.env,
    ...vault?.env,
    ...gcpEnv,
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, ".none"),
    GNUPGHOME: gnupg.home,
    SOPS_AGE_KEY_FILE: keyFile,
  }
  const latencies: Array<number> = []
  let peak = 0
  // warm-up: gpg-agent start, page cache
  spawnSync(sops, ["decrypt", file], { env, cwd: dir })
  for (let i = 0; i < sopsIterations; i++) {
    const t0 = performance.now()
    const r = timeBin
      ? spawnSync(timeBin, ["-f", "%M", sops, "decrypt", file], {
          env,
          cwd: dir,
          maxBuffer: 64 * 1024 * 1024,
        })
      : spawnSync(sops, ["decrypt", file], { env, cwd: dir, maxBuffer: 64 * 1024 * 1024 })
    latencies.push(performance.now() - t0)
    if (r.status !== 0) throw new Error(`sops decrypt failed: ${r.stderr.toString()}`)
    if (timeBin) peak = Math.max(peak, Number(r.stderr.toString().trim().split("\n").at(-1)))
  }
  return summarise(latencies, peak)
}

const loadStart = loadavg()[0]!
const rows: Array<string> = []
const kmsRows: Array<string> = []
const vaultRows: Array<string> = []
const gcpRows: Array<string> = []
const fmt = (r: Result) =>
  `${r.filesPerSecond.toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.peakMiB.toFixed(0)}`
for (const s of scenarios) {
  console.error(`benchmarking ${s.name}…`)
  const k = kustodian(s.file, false)
  const kc = kustodian(s.file, true)
  const g = sopsDecrypt(s.file)
  ;(s.gcp ? gcpRows : s.kms ? kmsRows : s.vault ? vaultRows : rows).push(
    `| ${s.name} | ${fmt(k)} | ${kc.filesPerSecond.toFixed(1)} | ${fmt(g)} |`,
  )
}

const toolVersionOf = (name: string) => toolVersions()[name] ?? "?"
const sopsVersion = runSops(sops, ["--version"], { cwd: dir }).stdout.toString().split("\n")[0]
const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB, "polyglot"`
const section = [
  "## SOPS engine",
  "",
  `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine}; Node ${process.versions.node}, ${sopsVersion}.`,
  `\`npm run bench:sops\`: YAML files encrypted by the real sops; Kustodian decrypts in process (fresh keyring each`,
  `time, ${iterations} runs after a warm-up; a second column with the data-key cache on), sops runs \`sops decrypt FILE\``,
  `as one process per file (${sopsIterations} runs; PGP through gpg/gpg-agent). Latencies in ms, peak memory = max RSS in MiB`,
  `(Kustodian: the whole Node process; sops: the sops process, gpg-agent not counted). The machine is shared, so`,
  "absolute numbers are noisy; compare the columns of one run.",
  `Load average (1 min) ${loadStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end of this run.`,
  "",
  "| file | Kustodian files/s | p50 | p99 | peak MiB | Kustodian+cache files/s | sops files/s | p50 | p99 | peak MiB |",
  "|---|---|---|---|---|---|---|---|---|---|",
  ...rows,
  "",
].join("\n")
const kmsSection = [
  "## SOPS engine: AWS KMS",
  "",
  `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine}; Node ${process.versions.node}, ${sopsVersion}, moto ${toolVersionOf("MOTO_VERSION")}.`,
  "`npm run bench:sops` (or `-- --kms-only`): YAML files the real sops encrypted with `--kms` against moto's server",
  "on loopback (a local server of the KMS wire protocol: this measures the client side, HTTP and moto, not AWS's",
  "latency). Kustodian decrypts in process with static keys, as from a Secret's `sops.aws-kms` (one KMS Decrypt",
  `per file; the cache column opens the data key once); sops runs \`sops decrypt FILE\` per file. Columns as above.`,
  "",
  "| file | Kustodian files/s | p50 | p99 | peak MiB | Kustodian+cache files/s | sops files/s | p50 | p99 | peak MiB |",
  "|---|---|---|---|---|---|---|---|---|---|",
  ...kmsRows,
  "",
].join("\n")
const vaultSection = [
  "## SOPS engine: Vault transit",
  "",
  `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine}; Node ${process.versions.node}, ${sopsVersion}, Vault ${toolVersionOf("VAULT_VERSION")} (dev mode).`,
  "`npm run bench:sops` (or `-- --vault-only`): YAML files the real sops encrypted with `--hc-vault-transit`",
  "against the real Vault server in dev mode on loopback (in-memory storage: this measures the client side, HTTP",
  "and Vault's transit engine, not a network's latency). Kustodian decrypts in process with the token, as from a",
  "Secret's `sops.vault-token` (one transit decrypt per file; the cache column opens the data key once); sops runs",
  "`sops decrypt FILE` per file. Columns as above.",
  "",
  "| file | Kustodian files/s | p50 | p99 | peak MiB | Kustodian+cache files/s | sops files/s | p50 | p99 | peak MiB |",
  "|---|---|---|---|---|---|---|---|---|---|",
  ...vaultRows,
  "",
].join("\n")
const gcpSection = [
  "## SOPS engine: GCP KMS",
  "",
  `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine}; Node ${process.versions.node}, ${sopsVersion}.`,
  "`npm run bench:sops` (or `-- --gcp-kms-only`): YAML files the real sops encrypted with `--gcp-kms` against the",
  "local server of GCP KMS's wire protocol (e2e/support/gcp-kms-server.ts, gRPC over TLS on loopback, in its own",
  "process: this measures the client side, not Google's latency). Kustodian decrypts in process with a",
  "service-account key, as from a Secret's `sops.gcp-kms` (one OAuth2 token per process, one KMS Decrypt per file;",
  "the cache column opens the data key once); sops runs `sops decrypt FILE` per file (a new gRPC connection and",
  "self-signed JWT each time). Columns as above.",
  "",
  "| file | Kustodian files/s | p50 | p99 | peak MiB | Kustodian+cache files/s | sops files/s | p50 | p99 | peak MiB |",
  "|---|---|---|---|---|---|---|---|---|---|",
  ...gcpRows,
  "",
].join("\n")
if (measures("engine")) console.log(section)
if (moto !== undefined) console.log(kmsSection)
if (vault !== undefined) console.log(vaultSection)
if (gcpKms !== undefined) console.log(gcpSection)

/** Replaces the section whose heading line is `heading` (up to the next `## `), or appends it. */
const replaceSection = (doc: string, heading: string, body: string): string => {
  const start = doc.indexOf(`${heading}\n`)
  if (start < 0) return `${doc.trimEnd()}\n\n${body}`
  const after = doc.indexOf("\n## ", start + 1)
  return doc.slice(0, start) + body + (after < 0 ? "" : `\n${doc.slice(after + 1)}`)
}
const docs = join(repo, "docs", "benchmarks.md")
let next = existsSync(docs) ? readFileSync(docs, "utf8") : "# Benchmarks\n\n"
if (measures("engine")) next = replaceSection(next, "## SOPS engine", section)
if (moto !== undefined) next = replaceSection(next, "## SOPS engine: AWS KMS", kmsSection)
if (vault !== undefined) next = replaceSection(next, "## SOPS engine: Vault transit", vaultSection)
if (gcpKms !== undefined) next = replaceSection(next, "## SOPS engine: GCP KMS", gcpSection)
writeFileSync(docs, next.endsWith("\n") ? next : `${next}\n`)
console.error(`wrote ${docs}`)
await Effect.runPromise(Scope.close(motoScope, Exit.void))
gcpKms?.stop()
// the Azure Key Vault rows, against the local Key Vault server (bench/sops-azure.ts)
if (measures("azure")) await import("./sops-azure.ts")
