/**
 * `kustodian edit` against the real sops 3.13, both driven by the same scripted editor ($EDITOR): the same
 * plaintext after an edit (read back with `sops decrypt`), only the edited value's ciphertext changed (IVs of
 * the others kept, as sops keeps them), the temp file 0600 in a 0700 directory and gone afterwards, sops' exit
 * codes (200 unchanged, 201 no editor / editor failed), an invalid edit re-opened after Enter, a new file from
 * the creation rule starting from sops' example document.
 */
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type AgeKey, type Peer, peer, valueLines } from "./testing/sops-peer.ts"

let p: Peer
let key: AgeKey
let editor: string
const plain = "user: admin\npassword: hunter2\nlist:\n    - one\n"

// The editor: MODE says what to do; it records the file it got, its mode and its directory's mode.
const script = `#!/bin/sh
n=$(cat "$STATE/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE/count"
echo "$1" > "$STATE/path"; stat -c %a "$1" > "$STATE/mode"; stat -c %a "$(dirname "$1")" > "$STATE/dirmode"
cp "$1" "$STATE/seen-$n"
case "$MODE" in
  nochange) ;;
  change) sed -i 's/hunter2/correct-horse/' "$1" ;;
  append) echo "added: by-editor" >> "$1" ;;
  invalid-once) if [ "$n" -eq 1 ]; then printf 'a: [\\n' > "$1"; else cp "$STATE/seen-1" "$1"; sed -i 's/hunter2/fixed/' "$1"; fi ;;
  invalid) printf 'a: [\\n' > "$1" ;;
  fail) exit 3 ;;
  sleep) exec sleep 60 ;;
esac
`

beforeAll(() => {
  p = peer("kedit-")
  key = p.ageKey("k")
  p.write("plain.yaml", plain)
  p.write("orig.yaml", p.sops(["encrypt", "--age", key.recipient, "plain.yaml"]).stdout)
  editor = p.write("editor.sh", script)
  chmodSync(editor, 0o755)
})
afterAll(() => p.dispose())

/** Runs `edit` with both tools on copies of orig.yaml (or on a new file), each with its own editor state. */
const both = (mode: string, opts: { file?: string; input?: string; args?: ReadonlyArray<string> } = {}) => {
  const run = (who: "ours" | "theirs") => {
    const file = opts.file === undefined ? `${who}.yaml` : `${who}-${opts.file}`
    if (opts.file === undefined) p.write(file, p.read("orig.yaml"))
    const state = join(p.dir, `state-${who}-${mode}-${Math.random().toString(36).slice(2)}`)
    mkdirSync(state)
    const env = { SOPS_AGE_KEY_FILE: key.file, EDITOR: editor, MODE: mode, STATE: state }
    const args = ["edit", ...(opts.args ?? []), file]
    const r =
      who === "ours"
        ? p.kustodian(args, { env, ...(opts.input === undefined ? {} : { input: opts.input }) })
        : p.sops(args, { env, ...(opts.input === undefined ? {} : { input: opts.input }) })
    return { r, file, state }
  }
  return { ours: run("ours"), theirs: run("theirs") }
}

const decrypt = (file: string) => {
  const r = p.sops(["decrypt", file], { env: { SOPS_AGE_KEY_FILE: key.file } })
  expect(r.code, r.stderr).toBe(0)
  return r.stdout
}

describe("kustodian edit", { timeout: 240_000 }, () => {
  it("re-encrypts the edit as sops does: same plaintext, only the edited value's ciphertext new", () => {
    const { ours, theirs } = both("change")
    expect([ours.r.code, theirs.r.code], ours.r.stderr).toEqual([0, 0])
    expect(decrypt(ours.file)).toBe(decrypt(theirs.file))
    expect(decrypt(ours.file)).toContain("password: correct-horse\n")
    const changed = (file: string) => {
      const before = valueLines(p.read("orig.yaml"))
      return valueLines(p.read(file)).filter((l, i) => l !== before[i])
    }
    expect(changed(ours.file)).toHaveLength(1)
    expect(changed(ours.file)[0]).toMatch(/^password: ENC\[/)
    expect(changed(theirs.file).map((l) => l.split(":")[0])).toEqual(
      changed(ours.file).map((l) => l.split(":")[0]),
    )
    // the plaintext was in a 0600 file in a 0700 directory, both gone now
    expect(readFileSync(join(ours.state, "mode"), "utf8").trim()).toBe("600")
    expect(readFileSync(join(ours.state, "dirmode"), "utf8").trim()).toBe("700")
    const tmp = readFileSync(join(ours.state, "path"), "utf8").trim()
    expect(existsSync(tmp)).toBe(false)
    expect(existsSync(join(tmp, ".."))).toBe(false)
    // the editor saw what sops shows
    expect(readFileSync(join(ours.state, "seen-1"), "utf8")).toBe(
      readFileSync(join(theirs.state, "seen-1"), "utf8"),
    )
  })

  it("exit codes as sops: 200 when nothing changed, 201 without an editor or when it fails", () => {
    const same = both("nochange")
    expect([same.ours.r.code, same.theirs.r.code]).toEqual([200, 200])
    expect(p.read(same.ours.file)).toBe(p.read("orig.yaml"))
    const failing = both("fail")
    expect([failing.ours.r.code, failing.theirs.r.code]).toEqual([201, 201])
    expect(p.read(failing.ours.file)).toBe(p.read("orig.yaml"))
    p.write("x.yaml", p.read("orig.yaml"))
    const env = { SOPS_AGE_KEY_FILE: key.file, EDITOR: join(p.dir, "no-such-editor") }
    const ours = p.kustodian(["edit", "x.yaml"], { env })
    const theirs = p.sops(["edit", "x.yaml"], { env })
    expect([ours.code, theirs.code]).toEqual([201, 201])
    expect(p.kustodian(["edit"]).code).toBe(p.sops(["edit"]).code)
    const wrongKey = p.ageKey("other")
    const noKey = p.kustodian(["edit", "x.yaml"], {
      env: { SOPS_AGE_KEY_FILE: wrongKey.file, EDITOR: editor },
    })
    expect(noKey.code).toBe(
      p.sops(["edit", "x.yaml"], { env: { SOPS_AGE_KEY_FILE: wrongKey.file, EDITOR: editor } }).code,
    )
  })

  it("an invalid edit is reported and the editor opened again after Enter; without an Enter nothing is written", () => {
    const { ours, theirs } = both("invalid-once", { input: "\n" })
    expect([ours.r.code, theirs.r.code], ours.r.stderr).toEqual([0, 0])
    expect(readFileSync(join(ours.state, "count"), "utf8").trim()).toBe("2")
    expect(ours.r.stderr).toContain("Press enter to return to the editor")
    expect(decrypt(ours.file)).toBe(decrypt(theirs.file))
    // sops would loop for ever here; we stop with exit code 1 and leave the file alone
    p.write("stuck.yaml", p.read("orig.yaml"))
    const state = join(p.dir, "state-stuck")
    mkdirSync(state)
    const stuck = p.kustodian(["edit", "stuck.yaml"], {
      env: { SOPS_AGE_KEY_FILE: key.file, EDITOR: editor, MODE: "invalid", STATE: state },
    })
    expect(stuck.code).toBe(1)
    expect(p.read("stuck.yaml")).toBe(p.read("orig.yaml"))
    expect(existsSync(readFileSync(join(state, "path"), "utf8").trim())).toBe(false)
  })

  it("a new file starts from sops' example and is encrypted for the creation rule's keys", () => {
    p.write(".sops.yaml", `creation_rules:\n  - path_regex: new2?\\.yaml$\n    age: ${key.recipient}\n`)
    const { ours, theirs } = both("append", { file: "new.yaml" })
    expect([ours.r.code, theirs.r.code], ours.r.stderr).toEqual([0, 0])
    expect(readFileSync(join(ours.state, "seen-1"), "utf8")).toBe(
      readFileSync(join(theirs.state, "seen-1"), "utf8"),
    )
    expect(decrypt(ours.file)).toBe(decrypt(theirs.file))
    expect(decrypt(ours.file)).toContain("added: by-editor\n")
    expect(p.read(ours.file)).toContain(`recipient: ${key.recipient}`)
    // unchanged example: nothing written, as sops
    const untouched = both("nochange", { file: "new2.yaml" })
    expect([untouched.ours.r.code, untouched.theirs.r.code]).toEqual([200, 200])
    expect(existsSync(join(p.dir, untouched.ours.file))).toBe(false)
    // --age for an existing file is refused (it would be ignored)
    const refused = p.kustodian(["edit", "--age", key.recipient, "orig.yaml"])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain("--age applies to new files only")
  })

  it("SIGTERM while the editor runs: the plaintext directory is removed, the file left alone, exit code 1", async () => {
    p.write("term.yaml", p.read("orig.yaml"))
    const state = join(p.dir, "state-term")
    mkdirSync(state)
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, "../../bin/kustodian.ts"), "edit", "term.yaml"],
      {
        cwd: p.dir,
        env: { ...p.env, SOPS_AGE_KEY_FILE: key.file, EDITOR: editor, MODE: "sleep", STATE: state },
        stdio: ["ignore", "pipe", "pipe"],
      },
    )
    let stderr = ""
    child.stderr.on("data", (d) => {
      stderr += d
    })
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    const started = Date.now()
    while (!existsSync(join(state, "mode")) && Date.now() - started < 60_000)
      await new Promise((r) => setTimeout(r, 100))
    const tmp = readFileSync(join(state, "path"), "utf8").trim()
    expect(existsSync(tmp)).toBe(true)
    child.kill("SIGTERM")
    expect(await exited).toBe(1)
    expect(stderr).toContain("User canceled operation")
    expect(existsSync(join(tmp, ".."))).toBe(false)
    expect(p.read("term.yaml")).toBe(p.read("orig.yaml"))
  })

  it("--show-master-keys shows the metadata as sops does", () => {
    const { ours, theirs } = both("change", { args: ["--show-master-keys"] })
    expect([ours.r.code, theirs.r.code], ours.r.stderr).toEqual([0, 0])
    const shape = (t: string) => t.replace(/(lastmodified|mac): .*/g, "$1: X")
    expect(shape(readFileSync(join(ours.state, "seen-1"), "utf8"))).toBe(
      shape(readFileSync(join(theirs.state, "seen-1"), "utf8")),
    )
    // sops 3.13 drops an edit made with --show-master-keys (it re-encrypts the tree it had); we keep it
    expect(decrypt(theirs.file)).toBe(plain)
    expect(decrypt(ours.file)).toBe(plain.replace("hunter2", "correct-horse"))
    expect(p.kustodian(["edit", "--help"]).stdout).toContain("usage: kustodian edit")
  })
})
