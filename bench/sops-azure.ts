/**
 * The Azure Key Vault rows of `npm run bench:sops` (also `node bench/sops-azure.ts` alone): YAML files the real
 * sops encrypted with `--azure-kv` against our local server of Key Vault's and Entra's wire protocols
 * (e2e/support/azure-kv-server.ts, in this process: the numbers measure the client side, TLS on loopback and
 * that server, not Azure's latency). Kustodian decrypts in process with a client secret, as from a Secret's
 * `sops.azure-kv` (one Key Vault decrypt per file after the first token; the cache column opens the data key
 * once); sops runs `sops decrypt FILE` per file (its own token request each time). Written to the "SOPS engine:
 * Azure Key Vault" section of docs/benchmarks.md.
 *
 * Env: BENCH_ITERATIONS (default 20), BENCH_SOPS_ITERATIONS (default 10).
 */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir, totalmem } from "node:os"
import { join, resolve } from "node:path"
import { performance } from "node:perf_hooks"
import { Effect, Exit, Scope } from "effect"
import { azureKvServer } from "../e2e/support/azure-kv-server.ts"
import { toolPath } from "../e2e/support/tools.ts"

const repo = resolve(import.meta.dirname, "..")
const iterations = Number(process.env.BENCH_ITERATIONS ?? 20)
const sopsIterations = Number(process.env.BENCH_SOPS_ITERATIONS ?? 10)
const sops = toolPath("sops")
const dir = mkdtempSync(join(tmpdir(), "ksops-bench-azkv-"))
const scope = Effect.runSync(Scope.make())
const kv = await Effect.runPromise(Scope.provide(scope)(azureKvServer()))
const kid = kv.createKey("bench")

/** Runs a program without blocking this process's event loop (the servers live here). */
const run = (cmd: string, args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) =>
  new Promise<string>((ok, fail) =>
    execFile(cmd, [...args], { env, cwd: dir, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? fail(new Error(`${cmd} failed: ${stderr}`)) : ok(stdout),
    ),
  )
const sopsEnv = {
  PATH: process.env.PATH,
  HOME: dir,
  XDG_CONFIG_HOME: join(dir, ".none"),
  AZURE_TENANT_ID: kv.tenantId,
  AZURE_CLIENT_ID: kv.clientId,
  AZURE_CLIENT_SECRET: kv.clientSecret,
  AZURE_AUTHORITY_HOST: kv.authorityHost,
  SSL_CERT_FILE: kv.caFile,
  HTTPS_PROXY: kv.proxyUrl,
}
const keyringPath = join(dir, "keyring.json")
writeFileSync(
  keyringPath,
  JSON.stringify({
    scope: "bench",
    age: [],
    pgp: [],
    azureKv: {
      config: {
        tenantId: kv.tenantId,
        clientId: kv.clientId,
        clientSecret: kv.clientSecret,
        authorityHost: kv.authorityHost,
      },
      ca: kv.ca,
    },
  }),
)
const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}
const summary = (latencies: ReadonlyArray<number>) =>
  `${(1000 / (latencies.reduce((a, b) => a + b, 0) / latencies.length)).toFixed(1)} | ${quantile(latencies, 0.5).toFixed(1)} | ${quantile(latencies, 0.99).toFixed(1)}`

const loadStart = loadavg()[0]!
const rows: Array<string> = []
for (const values of [1, 50]) {
  const plain = join(dir, `azkv-${values}.yaml`)
  const lines = Array.from(
    { length: values },
    (_, i) => `key${String(i).padStart(3, "0")}: ${"x".repeat(Math.max(1, Math.floor(1024 / values) - 12))}`,
  )
  writeFileSync(plain, `${lines.join("\n")}\n`)
  const file = join(dir, `azkv-${values}.enc.yaml`)
  writeFileSync(file, await run(sops, ["encrypt", "--azure-kv", kid, plain], sopsEnv))
  const name = `azure-kv, ${values} value${values > 1 ? "s" : ""}, 1 KiB`
  console.error(`benchmarking ${name}…`)
  const worker = async (cache: boolean) =>
    JSON.parse(
      await run(process.execPath, [
        join(repo, "bench/sops-worker.ts"),
        file,
        "yaml",
        keyringPath,
        String(iterations),
        cache ? "1" : "0",
      ]),
    ) as { latencies: Array<number>; maxRssKiB: number }
  const k = await worker(false)
  const kc = await worker(true)
  const theirs: Array<number> = []
  await run(sops, ["decrypt", file], sopsEnv)
  for (let i = 0; i < sopsIterations; i++) {
    const t0 = performance.now()
    await run(sops, ["decrypt", file], sopsEnv)
    theirs.push(performance.now() - t0)
  }
  rows.push(
    `| ${name} | ${summary(k.latencies)} | ${(k.maxRssKiB / 1024).toFixed(0)} | ${summary(kc.latencies).split(" | ")[0]} | ${summary(theirs)} |`,
  )
}
const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB, "polyglot"`
const sopsVersion = (await run(sops, ["--version"], sopsEnv)).split("\n")[0]
const section = [
  "## SOPS engine: Azure Key Vault",
  "",
  `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine}; Node ${process.versions.node}, ${sopsVersion}.`,
  "`npm run bench:sops` (or `node bench/sops-azure.ts`): YAML files the real sops encrypted with `--azure-kv` against",
  "our local server of Key Vault's and Entra's wire protocols on loopback (HTTPS; this measures the client side,",
  "TLS and that server, not Azure's latency). Kustodian decrypts in process with a client secret, as from a Secret's",
  "`sops.azure-kv` (one Key Vault decrypt per file, the access token reused; the cache column opens the data key",
  "once); sops runs `sops decrypt FILE` per file (a token request, instance discovery and a decrypt each time).",
  `Load average (1 min) ${loadStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end of this run.`,
  "",
  "| file | Kustodian files/s | p50 | p99 | peak MiB | Kustodian+cache files/s | sops files/s | p50 | p99 |",
  "|---|---|---|---|---|---|---|---|---|",
  ...rows,
  "",
].join("\n")
console.log(section)
const docs = join(repo, "docs", "benchmarks.md")
const doc = existsSync(docs) ? readFileSync(docs, "utf8") : "# Benchmarks\n\n"
const heading = "## SOPS engine: Azure Key Vault"
const start = doc.indexOf(`${heading}\n`)
const after = start < 0 ? -1 : doc.indexOf("\n## ", start + 1)
const next =
  start < 0
    ? `${doc.trimEnd()}\n\n${section}`
    : doc.slice(0, start) + section + (after < 0 ? "" : `\n${doc.slice(after + 1)}`)
writeFileSync(docs, next.endsWith("\n") ? next : `${next}\n`)
console.error(`wrote ${docs}`)
await Effect.runPromise(Scope.close(scope, Exit.void))
rmSync(dir, { recursive: true, force: true })
