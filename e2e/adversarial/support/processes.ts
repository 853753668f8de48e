/** What a killed operator may leave behind: its descendant processes and its temporary trees. */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

export interface ProcessInfo {
  readonly pid: number
  readonly comm: string
}

const stat = (pid: number): { ppid: number; comm: string; state: string } | undefined => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8")
    const close = text.lastIndexOf(")")
    const fields = text.slice(close + 2).split(" ")
    return { comm: text.slice(text.indexOf("(") + 1, close), state: fields[0] ?? "", ppid: Number(fields[1]) }
  } catch {
    return undefined
  }
}

/** Every live (non-zombie) process below `root` in the process tree. */
export const descendants = (root: number): ReadonlyArray<ProcessInfo> => {
  const children = new Map<number, Array<ProcessInfo>>()
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    const s = stat(pid)
    if (s === undefined || s.state === "Z" || s.state === "X") continue
    const list = children.get(s.ppid) ?? []
    list.push({ pid, comm: s.comm })
    children.set(s.ppid, list)
  }
  const out: ProcessInfo[] = []
  const stack = [root]
  while (stack.length > 0) {
    for (const child of children.get(stack.pop()!) ?? []) {
      out.push(child)
      stack.push(child.pid)
    }
  }
  return out
}

/** Whether a process with this pid is alive (and not a zombie). */
export const alive = (pid: number): boolean => {
  const s = stat(pid)
  return s !== undefined && s.state !== "Z" && s.state !== "X"
}

/** Paths (relative to `dir`, up to `depth` levels) of every entry whose name starts with `kustodian-`. */
export const kustodianEntries = (dir: string, depth = 3): ReadonlyArray<string> => {
  const out: string[] = []
  const walk = (rel: string, level: number) => {
    let names: string[]
    try {
      names = readdirSync(join(dir, rel))
    } catch {
      return
    }
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`
      if (name.startsWith("kustodian-")) out.push(path)
      if (level < depth) walk(path, level + 1)
    }
  }
  walk("", 1)
  return out
}
