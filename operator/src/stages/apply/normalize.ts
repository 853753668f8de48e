import type { KubeObject } from "../../kube/object.ts"

/**
 * Makes manifests as written by people acceptable and comparable for server-side apply: the server
 * would default or reject what is fixed here, and a diff against the live object would always drift.
 */

type Json = Record<string, unknown>

const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

/** Container and Service ports are list-maps keyed by port+protocol: SSA rejects an entry without protocol. */
const defaultProtocol = (ports: unknown): unknown =>
  Array.isArray(ports)
    ? ports.map((p) => (isRecord(p) && p.protocol === undefined ? { ...p, protocol: "TCP" } : p))
    : ports

const normalizePodSpec = (spec: unknown): unknown => {
  if (!isRecord(spec)) return spec
  const fix = (list: unknown) =>
    Array.isArray(list)
      ? list.map((c) => (isRecord(c) && c.ports ? { ...c, ports: defaultProtocol(c.ports) } : c))
      : list
  const out: Json = { ...spec }
  for (const k of ["containers", "initContainers", "ephemeralContainers"]) if (k in out) out[k] = fix(out[k])
  return out
}

const withTemplate = (spec: unknown): unknown =>
  isRecord(spec) && isRecord(spec.template)
    ? { ...spec, template: { ...spec.template, spec: normalizePodSpec(spec.template.spec) } }
    : spec

const normalizeSpec = (obj: KubeObject): unknown => {
  const spec = obj.spec
  if (!isRecord(spec)) return spec
  const group = obj.apiVersion.includes("/") ? obj.apiVersion.split("/")[0] : ""
  if (group === "" && obj.kind === "Pod") return normalizePodSpec(spec)
  if (group === "" && obj.kind === "Service")
    return spec.ports ? { ...spec, ports: defaultProtocol(spec.ports) } : spec
  if (group === "batch" && obj.kind === "CronJob" && isRecord(spec.jobTemplate))
    return { ...spec, jobTemplate: { ...spec.jobTemplate, spec: withTemplate(spec.jobTemplate.spec) } }
  return withTemplate(spec)
}

/**
 * Normalizes one desired object: drops `status` (the server owns it; apply would ignore it) and
 * `metadata.creationTimestamp`, folds a Secret's `stringData` into `data`, defaults port protocols.
 */
export const normalize = (obj: KubeObject): KubeObject => {
  const { status: _status, ...rest } = obj
  const { creationTimestamp: _ts, ...metadata } = obj.metadata
  const out: Json = { ...rest, metadata }
  if (obj.spec !== undefined) out.spec = normalizeSpec(obj)
  if (obj.apiVersion === "v1" && obj.kind === "Secret" && isRecord(obj.stringData)) {
    const data: Json = isRecord(obj.data) ? { ...obj.data } : {}
    for (const [k, v] of Object.entries(obj.stringData))
      data[k] = Buffer.from(String(v), "utf8").toString("base64")
    delete out.stringData
    out.data = data
  }
  return out as unknown as KubeObject
}
