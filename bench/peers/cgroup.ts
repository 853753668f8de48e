/**
 * A container's memory and CPU as a kubelet sees them: from its cgroup, not from its processes. The cgroup's
 * memory counts what a pod's memory limit counts — the processes' anonymous memory, the page cache they caused and
 * the pages of a tmpfs they wrote (a `medium: Memory` emptyDir such as the install's /tmp) — and its CPU counts every
 * process that ever ran in it, reaped or not.
 *
 * cgroup v2 (`memory.current`, `memory.peak` where the kernel has it, `memory.stat`, `cpu.stat`), or v1's memory
 * and cpuacct controllers (`memory.usage_in_bytes`, `memory.max_usage_in_bytes`, `memory.stat`'s `total_*`,
 * `cpuacct.usage`), as on this machine (Debian's podman with cgroupfs). The hierarchies are found in /proc/mounts;
 * the container's path, relative to each hierarchy's root, is what `podman inspect` calls `State.CgroupPath`.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Data, Effect, Fiber } from "effect"

const MiB = 2 ** 20

/** One reading of a container's memory, in MiB. */
export interface MemorySample {
  /** Everything charged to the cgroup (memory.current / memory.usage_in_bytes): what the limit is checked against. */
  readonly usage: number
  /** usage − inactive file cache: the kubelet's working set (`container_memory_working_set_bytes`), what evicts. */
  readonly workingSet: number
  /** Anonymous memory + tmpfs pages: what the kernel cannot reclaim without swap. */
  readonly anonShmem: number
}

export interface ContainerCgroup {
  /** The cgroup path and version, for the report. */
  readonly describe: string
  /** The memory limit, MiB (undefined when unlimited). */
  readonly limitMiB: number | undefined
  readonly memory: () => MemorySample
  /** The kernel's own high-water mark of `usage` since the container started, MiB; undefined if it has none. */
  readonly kernelPeakMiB: () => number | undefined
  /** CPU seconds of everything that ran in the cgroup. */
  readonly cpuSeconds: () => number
}

export class CgroupNotFound extends Data.TaggedError("CgroupNotFound")<{ readonly message: string }> {}

const read = (file: string): string => readFileSync(file, "utf8")
const readNumber = (file: string): number => Number(read(file).trim())
const stat = (file: string): Map<string, number> =>
  new Map(
    read(file)
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => {
        const [k, v] = l.split(" ")
        return [k!, Number(v)] as const
      }),
  )

interface Mounts {
  readonly v2: string | undefined
  readonly v1: ReadonlyMap<string, string>
}

/** The cgroup hierarchies mounted here: the v2 one, and v1's by controller. */
const mounts = (): Mounts => {
  let v2: string | undefined
  const v1 = new Map<string, string>()
  for (const line of read("/proc/mounts").split("\n")) {
    const [, dir, type, options] = line.split(" ")
    if (dir === undefined || options === undefined) continue
    if (type === "cgroup2") v2 ??= dir
    else if (type === "cgroup") for (const o of options.split(",")) v1.set(o, dir)
  }
  return { v2, v1 }
}

const unlimited = (bytes: number) => (bytes >= 2 ** 60 || Number.isNaN(bytes) ? undefined : bytes / MiB)

/**
 * The accounting of the cgroup at `path` (relative to the hierarchies' roots). v2 when its memory controller is
 * enabled there, else v1's memory and cpuacct controllers.
 */
export const containerCgroup = (path: string): ContainerCgroup => {
  const m = mounts()
  const v2 = m.v2 === undefined ? undefined : join(m.v2, path)
  if (v2 !== undefined && existsSync(join(v2, "memory.current"))) {
    const peak = join(v2, "memory.peak")
    const max = read(join(v2, "memory.max")).trim()
    return {
      describe: `cgroup v2 ${v2}`,
      limitMiB: max === "max" ? undefined : Number(max) / MiB,
      memory: () => {
        const usage = readNumber(join(v2, "memory.current"))
        const s = stat(join(v2, "memory.stat"))
        return {
          usage: usage / MiB,
          workingSet: (usage - (s.get("inactive_file") ?? 0)) / MiB,
          anonShmem: ((s.get("anon") ?? 0) + (s.get("shmem") ?? 0)) / MiB,
        }
      },
      kernelPeakMiB: () => (existsSync(peak) ? readNumber(peak) / MiB : undefined),
      cpuSeconds: () => (stat(join(v2, "cpu.stat")).get("usage_usec") ?? 0) / 1e6,
    }
  }
  const memRoot = m.v1.get("memory")
  const cpuRoot = m.v1.get("cpuacct")
  const mem = memRoot === undefined ? undefined : join(memRoot, path)
  const cpu = cpuRoot === undefined ? undefined : join(cpuRoot, path)
  if (mem === undefined || cpu === undefined || !existsSync(join(mem, "memory.usage_in_bytes")))
    throw new CgroupNotFound({
      message: `no memory accounting for cgroup ${path}: neither ${v2 ?? "(no cgroup2 mount)"}/memory.current nor ${mem ?? "(no v1 memory mount)"}/memory.usage_in_bytes`,
    })
  return {
    describe: `cgroup v1 ${mem} (memory), ${cpu} (cpuacct)`,
    limitMiB: unlimited(readNumber(join(mem, "memory.limit_in_bytes"))),
    memory: () => {
      const usage = readNumber(join(mem, "memory.usage_in_bytes"))
      const s = stat(join(mem, "memory.stat"))
      return {
        usage: usage / MiB,
        workingSet: (usage - (s.get("total_inactive_file") ?? 0)) / MiB,
        // v1's rss is anonymous memory only; tmpfs pages are in cache and shmem.
        anonShmem: ((s.get("total_rss") ?? 0) + (s.get("total_shmem") ?? 0)) / MiB,
      }
    },
    kernelPeakMiB: () => readNumber(join(mem, "memory.max_usage_in_bytes")) / MiB,
    cpuSeconds: () => readNumber(join(cpu, "cpuacct.usage")) / 1e9,
  }
}

const zero: MemorySample = { usage: 0, workingSet: 0, anonShmem: 0 }
const maxOf = (a: MemorySample, b: MemorySample): MemorySample => ({
  usage: Math.max(a.usage, b.usage),
  workingSet: Math.max(a.workingSet, b.workingSet),
  anonShmem: Math.max(a.anonShmem, b.anonShmem),
})

/**
 * Samples the cgroup's memory every 250 ms in a fiber of the current scope; `peak()` is the largest of each
 * measure seen (each on its own: they need not peak together). A reading that fails (the container gone) is skipped.
 */
export const cgroupSampler = (cgroup: ContainerCgroup) =>
  Effect.gen(function* () {
    let peak = zero
    const sample = Effect.sync(() => {
      try {
        peak = maxOf(peak, cgroup.memory())
      } catch {
        // gone: keep the peak so far
      }
    })
    yield* sample
    const fiber = yield* Effect.forkScoped(
      Effect.forever(Effect.andThen(Effect.sleep(250), sample), { disableYield: true }),
    )
    return {
      peak: () => peak,
      stop: Fiber.interrupt(fiber),
    }
  })
