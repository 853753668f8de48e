/**
 * Interop with the real sops CLI (no cluster needed): files encrypted by `sops` decrypt with Kustodian to the
 * same bytes `sops decrypt` prints, and files encrypted by Kustodian decrypt with `sops decrypt` — for age, PGP
 * (gpg keyring in a temp GNUPGHOME for sops, the armored keys in process for Kustodian), 2 and 3 key groups with
 * Shamir threshold 2, every store, each selection rule, mac_only_encrypted and comments.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  decrypt,
  encrypt,
  type Format,
  type KeyRecipient,
  type Keyring,
  type SelectionRule,
} from "../operator/src/sops/index.ts"
import {
  ageKeygen,
  type GpgKey,
  makeGpgKey,
  runSops,
  tempGnupgHome,
} from "../operator/src/sops/testing/peers.ts"
import { hasTool, toolPath } from "./support/tools.ts"

const haveSops = hasTool("sops") && hasTool("gpg") && hasTool("age-keygen")

const plaintexts: Record<Format, string | Uint8Array> = {
  yaml: [
    "# Kubernetes-ish secret",
    "apiVersion: v1",
    "kind: Secret",
    "metadata:",
    "    name: db # inline",
    "    labels:",
    "        app: web",
    "data:",
    "    # the password",
    "    password: aHVudGVyMg==",
    '    empty: ""',
    "stringData:",
    "    token: s3cr3t",
    "    number: 42",
    "    big: 9223372036854775807",
    "    ratio: 0.25",
    "    flag: true",
    '    quoted: "123"',
    "    multiline: |",
    "        line one",
    "        line two",
    "list:",
    "    - a",
    "    - b: c",
    "      d: 1.5e+20",
    "nothing: null",
    "plain_unencrypted: visible",
    "# the end",
    "",
  ].join("\n"),
  json: '{\n\t"name": "db",\n\t"password": "hunter2 <&> \\u2028",\n\t"port": 5432,\n\t"ratio": 0.1,\n\t"big": 12345678901234567,\n\t"on": false,\n\t"nested": {\n\t\t"list": [1, "two", {"three": 3.5}, [true]],\n\t\t"nothing": null\n\t},\n\t"unicode": "h\u00e9llo \ud83d\udd11"\n}\n',
  dotenv: "# database\nDB_USER=app\nDB_PASSWORD=hunter2\nMULTI=a\\nb\nKEY_unencrypted=clear\n",
  ini: "; global\n[database]\nuser = app\npassword = hunter2\n; port below\nport = 5432\n\n[cache]\nurl = redis://cache:6379\n",
  binary: new Uint8Array([0, 1, 2, 250, 251, 255, 10, 13, 65, 66, 67, 0xc3, 0x28]),
}
const ext: Record<Format, string> = { yaml: "yaml", json: "json", dotenv: "env", ini: "ini", binary: "bin" }

describe.skipIf(!haveSops)("interop with the real sops CLI", () => {
  let dir: string
  let gnupg: ReturnType<typeof tempGnupgHome>
  let pgp1: GpgKey
  let pgp2: GpgKey
  let age1: ReturnType<typeof ageKeygen>
  let age2: ReturnType<typeof ageKeygen>
  let sops: string
  let keyFile: string
  let full: Keyring
  let n = 0

  beforeAll(() => {
    sops = toolPath("sops")
    dir = mkdtempSync(join(tmpdir(), "ksops-interop-"))
    gnupg = tempGnupgHome()
    pgp1 = makeGpgKey(gnupg.home, "interop-rsa", "rsa2048")
    pgp2 = makeGpgKey(gnupg.home, "interop-ecc", "ed25519")
    age1 = ageKeygen(toolPath("age-keygen"))
    age2 = ageKeygen(toolPath("age-keygen"))
    keyFile = join(dir, "keys.txt")
    writeFileSync(keyFile, `${age1.keyFile}\n${age2.keyFile}`)
    full = { scope: "interop", age: [age1.keyFile, age2.keyFile], pgp: [pgp1.armored, pgp2.armored] }
  }, 120_000)

  afterAll(() => {
    gnupg?.dispose()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const write = (name: string, content: string | Uint8Array) => {
    const p = join(dir, name)
    writeFileSync(p, content)
    return p
  }

  const sopsOk = (args: ReadonlyArray<string>, cwd = dir) => {
    const r = runSops(sops, args, { cwd, gnupgHome: gnupg.home, ageKeyFile: keyFile })
    if (r.code !== 0) throw new Error(`sops ${args.join(" ")} failed (${r.code}): ${r.stderr}`)
    return r.stdout
  }

  const kDecrypt = (bytes: Uint8Array, format: Format, keyring: Keyring = full) =>
    Effect.runPromise(
      decrypt({ bytes, format, file: `interop.${ext[format]}`, keyring, mac: "strict" }),
    ).then((r) => r.plaintext)

  const kEncrypt = (
    bytes: string | Uint8Array,
    format: Format,
    keyGroups: ReadonlyArray<ReadonlyArray<KeyRecipient>>,
    opts: { rule?: SelectionRule; threshold?: number; macOnly?: boolean } = {},
  ) =>
    Effect.runPromise(
      encrypt({
        bytes: typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes,
        format,
        file: `interop.${ext[format]}`,
        keyGroups,
        keyring: full,
        ...(opts.rule ? { rule: opts.rule } : {}),
        ...(opts.threshold ? { shamirThreshold: opts.threshold } : {}),
        ...(opts.macOnly ? { macOnlyEncrypted: true } : {}),
      }),
    )

  /** sops-encrypted → Kustodian decrypts to exactly what `sops decrypt` prints. `config` = .sops.yaml rule lines. */
  const sopsToKustodian = async (
    format: Format,
    encryptArgs: ReadonlyArray<string>,
    keyring: Keyring = full,
    content = plaintexts[format],
    config?: ReadonlyArray<string>,
  ) => {
    let cwd = dir
    if (config !== undefined) {
      cwd = join(dir, `cfg-${n++}`)
      mkdirSync(cwd)
      writeFileSync(
        join(cwd, ".sops.yaml"),
        ["creation_rules:", "  - path_regex: .*", ...config.map((l) => `    ${l}`), ""].join("\n"),
      )
    }
    const name = `s${n++}.${ext[format]}`
    writeFileSync(join(cwd, name), content)
    const encrypted = sopsOk(["encrypt", ...encryptArgs, name], cwd)
    const encName = write(`enc-${name}`, encrypted)
    const expected = sopsOk(["decrypt", encName])
    const actual = await kDecrypt(new Uint8Array(encrypted), format, keyring)
    expect(Buffer.from(actual).toString("base64"), `${format} ${encryptArgs.join(" ")}`).toBe(
      expected.toString("base64"),
    )
    return encrypted.toString("utf8")
  }

  /** Kustodian-encrypted → `sops decrypt` prints exactly what Kustodian decrypts it to. */
  const kustodianToSops = async (
    format: Format,
    keyGroups: ReadonlyArray<ReadonlyArray<KeyRecipient>>,
    opts: { rule?: SelectionRule; threshold?: number; macOnly?: boolean } = {},
    content = plaintexts[format],
  ) => {
    const encrypted = await kEncrypt(content, format, keyGroups, opts)
    const encName = write(`k${n++}.${ext[format]}`, encrypted)
    const bySops = sopsOk(["decrypt", encName])
    const byUs = await kDecrypt(encrypted, format)
    expect(Buffer.from(byUs).toString("base64"), format).toBe(bySops.toString("base64"))
    return { encrypted: Buffer.from(encrypted).toString("utf8"), plaintext: bySops }
  }

  const formats: ReadonlyArray<Format> = ["yaml", "json", "dotenv", "ini", "binary"]

  for (const format of formats) {
    it(`${format}: age, both directions`, async () => {
      await sopsToKustodian(format, ["--age", age1.recipient])
      const { plaintext } = await kustodianToSops(format, [[{ type: "age", recipient: age1.recipient }]])
      // and Kustodian's plaintext equals what sops makes of the original file
      const viaSops = sopsOk([
        "decrypt",
        write(
          `rt-${n++}.${ext[format]}`,
          sopsOk(["encrypt", "--age", age1.recipient, write(`p-${n++}.${ext[format]}`, plaintexts[format])]),
        ),
      ])
      expect(plaintext.toString("base64")).toBe(viaSops.toString("base64"))
    })
  }

  for (const format of ["yaml", "json", "dotenv"] as const) {
    it(`${format}: PGP (RSA and ECC), both directions`, async () => {
      await sopsToKustodian(format, ["--pgp", `${pgp1.fp},${pgp2.fp}`])
      // only the ECC key available in process
      await sopsToKustodian(format, ["--pgp", pgp2.fp], { ...full, pgp: [pgp2.armored] })
      await kustodianToSops(format, [
        [
          { type: "pgp", fp: pgp1.fp },
          { type: "pgp", fp: pgp2.fp },
        ],
      ])
    })
  }

  it("key groups: 2 groups threshold 2 and 3 groups threshold 2 (one group unavailable)", async () => {
    const cfgDir = join(dir, `groups-${n++}`)
    mkdirSync(cfgDir)
    writeFileSync(
      join(cfgDir, ".sops.yaml"),
      [
        "creation_rules:",
        "  - path_regex: two\\.",
        "    shamir_threshold: 2",
        "    key_groups:",
        `      - age: [${age1.recipient}]`,
        `      - pgp: [${pgp1.fp}]`,
        "  - path_regex: three\\.",
        "    shamir_threshold: 2",
        "    key_groups:",
        `      - age: [${age1.recipient}]`,
        `      - pgp: [${pgp1.fp}]`,
        `      - age: [${age2.recipient}]`,
        "",
      ].join("\n"),
    )
    for (const [name, keyring] of [
      ["two.yaml", full],
      ["three.yaml", { ...full, age: [age2.keyFile] }],
    ] as const) {
      writeFileSync(join(cfgDir, name), plaintexts.yaml)
      const encrypted = sopsOk(["encrypt", name], cfgDir)
      expect(encrypted.toString()).toContain("shamir_threshold: 2")
      expect(encrypted.toString()).toContain("key_groups:")
      const expected = sopsOk(["decrypt", write(`g-${n++}.yaml`, encrypted)])
      const actual = await kDecrypt(new Uint8Array(encrypted), "yaml", keyring)
      expect(Buffer.from(actual).toString()).toBe(expected.toString())
    }
    // one group is not enough for threshold 2
    const onlyAge2 = { ...full, age: [age2.keyFile], pgp: [] }
    const encrypted = sopsOk(["encrypt", "three.yaml"], cfgDir)
    const err = await Effect.runPromise(
      Effect.flip(
        decrypt({
          bytes: new Uint8Array(encrypted),
          format: "yaml",
          file: "three.yaml",
          keyring: onlyAge2,
          mac: "strict",
        }),
      ),
    )
    expect(err._tag).toBe("DataKeyError")
    expect(err.message).toContain("threshold 2")
    // Kustodian-made multi-group files open with sops
    const a = { type: "age" as const, recipient: age1.recipient }
    const p = { type: "pgp" as const, fp: pgp1.fp }
    const b = { type: "age" as const, recipient: age2.recipient }
    const two = await kustodianToSops("json", [[a], [p]], { threshold: 2 })
    expect(two.encrypted).toContain('"shamir_threshold": 2')
    await kustodianToSops("yaml", [[a], [p], [b]], { threshold: 2 })
  })

  const rules: ReadonlyArray<SelectionRule> = [
    { kind: "unencrypted_suffix", value: "_unencrypted" },
    { kind: "encrypted_suffix", value: "word" },
    { kind: "unencrypted_regex", value: "^(apiVersion|kind|metadata)$" },
    { kind: "encrypted_regex", value: "^(data|stringData)$" },
    { kind: "unencrypted_comment_regex", value: "the password" },
    { kind: "encrypted_comment_regex", value: "the password" },
  ]
  for (const rule of rules) {
    it(`selection rule ${rule.kind}`, async () => {
      // sops has CLI flags for the suffix/regex rules; the comment rules exist only in .sops.yaml
      const fromSops = rule.kind.endsWith("comment_regex")
        ? await sopsToKustodian("yaml", [], full, plaintexts.yaml, [
            `age: ${age1.recipient}`,
            `${rule.kind}: "${rule.value}"`,
          ])
        : await sopsToKustodian("yaml", [
            "--age",
            age1.recipient,
            `--${rule.kind.replaceAll("_", "-")}`,
            rule.value,
          ])
      expect(fromSops).toContain(`${rule.kind}: `)
      const { encrypted } = await kustodianToSops("yaml", [[{ type: "age", recipient: age1.recipient }]], {
        rule,
      })
      expect(encrypted).toContain(`${rule.kind}: `)
      await kustodianToSops("json", [[{ type: "age", recipient: age1.recipient }]], { rule })
    })
  }

  it("mac_only_encrypted, both directions", async () => {
    const out = await sopsToKustodian("yaml", [], full, plaintexts.yaml, [
      `age: ${age1.recipient}`,
      "encrypted_regex: ^data$",
      "mac_only_encrypted: true",
    ])
    expect(out).toContain("mac_only_encrypted: true")
    await kustodianToSops("yaml", [[{ type: "age", recipient: age1.recipient }]], {
      rule: { kind: "encrypted_regex", value: "^data$" },
      macOnly: true,
    })
  })

  it("comments in maps and lists, both directions", async () => {
    const content =
      "# top\na: 1 # inline\n# before b\nb:\n    # inside\n    c: d\nl:\n    - x\n    # between\n    - y\n"
    await sopsToKustodian("yaml", ["--age", age1.recipient], full, content)
    await kustodianToSops("yaml", [[{ type: "age", recipient: age1.recipient }]], {}, content)
  })

  it("Kustodian's encrypted output matches sops' metadata layout byte for byte apart from ciphertexts", async () => {
    const name = write(`layout-${n++}.json`, plaintexts.json)
    const bySops = sopsOk(["encrypt", "--age", age1.recipient, name]).toString()
    const byUs = Buffer.from(
      await kEncrypt(plaintexts.json, "json", [[{ type: "age", recipient: age1.recipient }]]),
    ).toString()
    const mask = (s: string) =>
      s
        .replace(/ENC\[AES256_GCM,[^\]]*\]/g, "ENC[…]")
        .replace(/-----BEGIN AGE ENCRYPTED FILE-----[^"]*-----END AGE ENCRYPTED FILE-----\\n/g, "AGE")
        .replace(/"lastmodified": "[^"]+"/, '"lastmodified": "T"')
        .replace(/"version": "[^"]+"/, '"version": "V"')
    expect(mask(byUs)).toBe(mask(bySops))
    expect(readFileSync(name, "utf8")).toBe(plaintexts.json)
  })

  it("the kustodian CLI with .sops.yaml key groups and the gpg keyring interoperates with sops", () => {
    const repo = join(dir, `cli-${n++}`)
    mkdirSync(join(repo, "secrets"), { recursive: true })
    writeFileSync(
      join(repo, ".sops.yaml"),
      [
        "creation_rules:",
        "  - path_regex: ^secrets/",
        "    shamir_threshold: 2",
        "    encrypted_regex: ^(data|stringData)$",
        "    key_groups:",
        `      - pgp: [${pgp1.fp}]`,
        `      - age: [${age1.recipient}]`,
        "",
      ].join("\n"),
    )
    writeFileSync(join(repo, "secrets", "db.yaml"), plaintexts.yaml)
    const bin = join(import.meta.dirname, "..", "operator", "bin", "kustodian.ts")
    const env = { PATH: process.env.PATH, HOME: repo, GNUPGHOME: gnupg.home, SOPS_AGE_KEY_FILE: keyFile }
    const run = (args: ReadonlyArray<string>) => {
      const r = spawnSync(process.execPath, [bin, ...args], { cwd: repo, env })
      expect(r.status, r.stderr.toString()).toBe(0)
      return r.stdout
    }
    // Kustodian CLI encrypts (PGP through the gpg binary), sops decrypts
    const ours = run(["encrypt", "secrets/db.yaml"])
    expect(ours.toString()).toContain("key_groups:")
    writeFileSync(join(repo, "secrets", "ours.yaml"), ours)
    const bySops = sopsOk(["decrypt", "secrets/ours.yaml"], repo)
    // sops encrypts with the same rule, the Kustodian CLI decrypts (PGP through gpg, no in-process keys)
    const theirs = sopsOk(["encrypt", "secrets/db.yaml"], repo)
    writeFileSync(join(repo, "secrets", "theirs.yaml"), theirs)
    const byUs = run(["decrypt", "secrets/theirs.yaml"])
    expect(byUs.toString()).toBe(bySops.toString())
    expect(byUs.toString()).toBe(sopsOk(["decrypt", "secrets/theirs.yaml"], repo).toString())
  })

  it("--extract prints the same value as sops decrypt --extract", () => {
    const name = write(`x-${n++}.yaml`, plaintexts.yaml)
    const enc = write(`xe-${n++}.yaml`, sopsOk(["encrypt", "--age", age1.recipient, name]))
    const bin = join(import.meta.dirname, "..", "operator", "bin", "kustodian.ts")
    const env = { PATH: process.env.PATH, HOME: dir, SOPS_AGE_KEY_FILE: keyFile }
    for (const path of [
      '["stringData"]["token"]',
      '["stringData"]["number"]',
      '["metadata"]',
      '["list"][1]',
    ]) {
      const ours = spawnSync(process.execPath, [bin, "decrypt", "--extract", path, enc], { cwd: dir, env })
      expect(ours.status, ours.stderr.toString()).toBe(0)
      expect(ours.stdout.toString(), path).toBe(sopsOk(["decrypt", "--extract", path, enc]).toString())
    }
  })
})
