/**
 * `kustodian exec-env` / `exec-file` against the real sops 3.13: the child sees the same environment and the
 * same file, the child's exit code comes back, refusals and sops' exit codes for bad input; exec-env writes
 * nothing to disk, exec-file's FIFO or 0600 file lives in a 0700 directory that is gone afterwards, and a child
 * that never reads the FIFO does not hang the command.
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type AgeKey, type Peer, peer } from "./testing/sops-peer.ts"

let p: Peer
let key: AgeKey
let tmp: string

beforeAll(() => {
  p = peer("kexec-")
  key = p.ageKey("k")
  p.write("vars.env", "USER_NAME=admin\nPASSWORD=two words\n# a comment\nPORT=8080\n")
  p.write("enc.env", p.sops(["encrypt", "--age", key.recipient, "vars.env"]).stdout)
  p.write("doc.yaml", "user: admin\npassword: hunter2\nlist:\n    - one\n")
  p.write("enc.yaml", p.sops(["encrypt", "--age", key.recipient, "doc.yaml"]).stdout)
  p.write("flat.yaml", "n: 1.5\nb: true\ns: text\n")
  p.write("flat.enc.yaml", p.sops(["encrypt", "--age", key.recipient, "flat.yaml"]).stdout)
  tmp = join(p.dir, "tmp")
  mkdirSync(tmp)
})
afterAll(() => p.dispose())

const env = () => ({ env: { SOPS_AGE_KEY_FILE: key.file, TMPDIR: tmp } })
const same = (args: ReadonlyArray<string>) => {
  const ours = p.kustodian(args, env())
  const theirs = p.sops(args, env())
  return { ours, theirs }
}

describe("kustodian exec-env", { timeout: 180_000 }, () => {
  it("gives the child the values sops gives it, and its exit code", () => {
    const show = 'printf "%s|%s|%s|%s\\n" "$USER_NAME" "$PASSWORD" "$PORT" "$HOME"'
    const { ours, theirs } = same(["exec-env", "enc.env", show])
    expect([ours.code, ours.stdout], ours.stderr).toEqual([theirs.code, theirs.stdout])
    expect(ours.stdout).toBe(`admin|two words|8080|${p.dir}\n`)
    const typed = same(["exec-env", "flat.enc.yaml", 'echo "$n $b $s"'])
    expect(typed.ours.stdout).toBe(typed.theirs.stdout)
    const pristine = same([
      "exec-env",
      "--pristine",
      "enc.env",
      "env | grep -v -e '^PWD=' -e '^SHLVL=' -e '^_=' | sort",
    ])
    expect(pristine.ours.stdout).toBe(pristine.theirs.stdout)
    expect(pristine.ours.stdout).toBe("PASSWORD=two words\nPORT=8080\nUSER_NAME=admin\n")
    const exit = same(["exec-env", "enc.env", "exit 7"])
    expect([exit.ours.code, exit.theirs.code]).toEqual([7, 7])
    // nothing was written to the temp directory
    const look = p.kustodian(["exec-env", "enc.env", `ls -A "${tmp}"`], env())
    expect([look.code, look.stdout]).toEqual([0, ""])
  })

  it("fails as sops: complex values, missing arguments; refuses what it cannot do", () => {
    const complex = same(["exec-env", "enc.yaml", "true"])
    expect([complex.ours.code, complex.theirs.code]).toEqual([1, 1])
    expect(complex.ours.stderr).toContain("cannot use complex value in environment; offending key list")
    const missing = same(["exec-env", "enc.env"])
    expect([missing.ours.code, missing.theirs.code]).toEqual([1, 1])
    const wrong = p.ageKey("other")
    const noKey = p.kustodian(["exec-env", "enc.env", "true"], { env: { SOPS_AGE_KEY_FILE: wrong.file } })
    expect(noKey.code).toBe(
      p.sops(["exec-env", "enc.env", "true"], { env: { SOPS_AGE_KEY_FILE: wrong.file } }).code,
    )
    for (const flag of [["--user", "nobody"], ["--same-process"]]) {
      const r = p.kustodian(["exec-env", ...flag, "enc.env", "true"], env())
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(`${flag[0]} is not supported`)
    }
    expect(p.kustodian(["exec-env", "--help"]).stdout).toContain("--pristine")
  })
})

describe("kustodian exec-file", { timeout: 180_000 }, () => {
  it("a FIFO by default, read once, with the plaintext sops gives; exit code passed on", () => {
    const { ours, theirs } = same(["exec-file", "enc.yaml", "cat {}; test -p {} && echo fifo; exit 3"])
    expect([ours.code, theirs.code]).toEqual([3, 3])
    expect(ours.stdout).toBe(theirs.stdout)
    expect(ours.stdout).toBe("user: admin\npassword: hunter2\nlist:\n    - one\nfifo\n")
    const json = same(["exec-file", "--output-type", "json", "enc.yaml", "cat {}"])
    expect(json.ours.stdout).toBe(json.theirs.stdout)
    // a child that never opens the FIFO: no hang, and the directory is gone
    const ignoring = p.kustodian(["exec-file", "enc.yaml", "echo {}"], env())
    expect(ignoring.code).toBe(0)
    expect(existsSync(ignoring.stdout.trim())).toBe(false)
    expect(readdirSync(tmp)).toEqual([])
  })

  it("--no-fifo: a 0600 file in a 0700 directory, removed afterwards; --filename names it", () => {
    const r = p.kustodian(
      [
        "exec-file",
        "--no-fifo",
        "--filename",
        "secret.yaml",
        "enc.yaml",
        'stat -c %a {} "$(dirname {})"; echo {}; cat {} {}',
      ],
      env(),
    )
    expect(r.code, r.stderr).toBe(0)
    const [mode, dirMode, path, ...rest] = r.stdout.split("\n")
    expect([mode, dirMode]).toEqual(["600", "700"])
    expect(path!.endsWith("/secret.yaml")).toBe(true)
    expect(path!.startsWith(tmp)).toBe(true)
    expect(rest.join("\n")).toBe("user: admin\npassword: hunter2\nlist:\n    - one\n".repeat(2))
    expect(existsSync(path!)).toBe(false)
    expect(readdirSync(tmp)).toEqual([])
    const theirs = p.sops(["exec-file", "--no-fifo", "enc.yaml", "cat {}"], env())
    expect(p.kustodian(["exec-file", "--no-fifo", "enc.yaml", "cat {}"], env()).stdout).toBe(theirs.stdout)
    const bad = same(["exec-file", "--filename", "../escape", "enc.yaml", "true"])
    expect([bad.ours.code, bad.theirs.code]).toEqual([1, 1])
    const missing = same(["exec-file", "enc.yaml"])
    expect([missing.ours.code, missing.theirs.code]).toEqual([1, 1])
  })
})
