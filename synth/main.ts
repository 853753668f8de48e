/**
 * `npm run synth`: writes crds/*.yaml, dist/install.yaml and dist/install-multitenant.yaml from the model.
 *
 * Parameters (argv wins over env): `--namespace=<ns>` / KUSTODIAN_NAMESPACE (default kustodian-system),
 * `--image=<ref>` / KUSTODIAN_IMAGE, `--out=<dir>` (default: the repository root).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { renderAll } from "./app.ts"
import { defaultInstallOptions } from "./install.ts"

const flag = (name: string): string | undefined =>
  process.argv
    .slice(2)
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)

const namespace = flag("namespace") ?? process.env.KUSTODIAN_NAMESPACE ?? defaultInstallOptions.namespace
const image = flag("image") ?? process.env.KUSTODIAN_IMAGE ?? defaultInstallOptions.image
const out = resolve(flag("out") ?? join(import.meta.dirname, ".."))

for (const [path, content] of renderAll({ namespace, image })) {
  const target = join(out, path)
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, content)
  console.log(`wrote ${target}`)
}
