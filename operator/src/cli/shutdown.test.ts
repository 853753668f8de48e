/**
 * SIGTERM always ends the process: gracefully when the main fiber can be interrupted, by the main thread's
 * deadline when it cannot, and by the watchdog thread's SIGKILL when the event loop is blocked for good.
 * Real processes; the test timeout is the only clock.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parseGrace } from "./shutdown.ts"

const fixture = join(import.meta.dirname, "fixtures/stubborn.ts")

const runAndTerm = (mode: string) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, mode], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString()
      if (stdout.includes("ready\n") && !child.killed) child.kill("SIGTERM")
    })
    child.on("error", reject)
    child.on("exit", (code, signal) => resolve({ code, signal, stdout }))
  })

describe("shutdown on SIGTERM", () => {
  it("interrupts the main fiber and returns", async () => {
    const r = await runAndTerm("graceful")
    expect(r.stdout).toContain("released\n")
    expect(r.stdout).toContain("exit Failure") // interrupted
    expect(r.code).toBe(0)
  })

  it("exits by force when the fiber does not stop within the grace period", async () => {
    const r = await runAndTerm("uninterruptible")
    expect(r.stdout).not.toContain("exit ")
    expect(r.code).toBe(1)
  })

  it("is killed by the watchdog thread when the event loop is blocked", async () => {
    const r = await runAndTerm("blocked")
    expect(r.signal).toBe("SIGKILL")
  })

  it("parses grace periods", () => {
    expect(parseGrace("8s")).toBe(8000)
    expect(parseGrace("1m30s")).toBe(90_000)
    expect(parseGrace("250ms")).toBe(250)
    expect(parseGrace("8")).toBeUndefined()
    expect(parseGrace("8s ")).toBeUndefined()
  })
})
