/**
 * CustomResourceDefinitions generated from the model: the schema of each kind is `toStructural` of its Effect
 * Schema, and names, short names, categories and printer columns come from its `ApiResource` constant.
 */
import { readFileSync } from "node:fs"
import { Schema } from "effect"
import type { ApiResource } from "../model/api-resource.ts"
import { GitRepository, gitRepositoryResource } from "../model/gitrepository.ts"
import { reconcileJournalResource } from "../model/journal.ts"
import { Kustomization, kustomizationResource } from "../model/kustomization.ts"
import { type JsonSchemaNode, toStructural } from "./structural.ts"

/** A manifest as plain JSON. */
export type Manifest = { readonly apiVersion: string; readonly kind: string; readonly [key: string]: unknown }

/** Labels on everything Kustodian installs. */
export const partOfLabels = { "app.kubernetes.io/part-of": "kustodian" } as const

/** The `openAPIV3Schema` of a kind: its object schema, with the envelope fields left to the API server. */
export const openApiSchema = (kind: string, objectSchema: Schema.Top): JsonSchemaNode => {
  const structural = toStructural(Schema.toJsonSchemaDocument(objectSchema))
  const properties = structural.properties as Record<string, JsonSchemaNode>
  return {
    description: `${kind} is the Schema for the ${kind} API (served as Flux's ${kind}).`,
    type: "object",
    properties: {
      apiVersion: {
        description: "APIVersion defines the versioned schema of this representation of an object.",
        type: "string",
      },
      kind: {
        description: "Kind is a string value representing the REST resource this object represents.",
        type: "string",
      },
      metadata: { type: "object" },
      spec: properties.spec,
      status: properties.status,
    },
    required: ["spec"],
  }
}

/** The project's version (package.json), as the CRDs' `app.kubernetes.io/version` label. */
const version = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version

/** A CRD serving one version that is also the storage version, with the status subresource. */
export const customResourceDefinition = (resource: ApiResource, objectSchema: Schema.Top): Manifest => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: {
    name: `${resource.plural}.${resource.group}`,
    // `flux check` and `flux version` print the CRDs' part-of and version labels as the distribution.
    labels: { ...partOfLabels, "app.kubernetes.io/component": "crd", "app.kubernetes.io/version": version },
    // Flux marks its CRDs so a Kustomization that applies them never substitutes variables inside.
    annotations: { "kustomize.toolkit.fluxcd.io/substitute": "disabled" },
  },
  spec: {
    group: resource.group,
    names: {
      kind: resource.kind,
      listKind: resource.listKind,
      plural: resource.plural,
      singular: resource.singular,
      shortNames: [...resource.shortNames],
      categories: [...resource.categories],
    },
    scope: "Namespaced",
    versions: [
      {
        name: resource.version,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: resource.printerColumns.map((c) => ({
          name: c.name,
          type: c.type,
          jsonPath: c.jsonPath,
        })),
        schema: { openAPIV3Schema: openApiSchema(resource.kind, objectSchema) },
      },
    ],
  },
})

/**
 * Kustodian's own `ReconcileJournal` (model/journal.ts): the durable journal of one object's reconciles. Only
 * the controller writes it; records and the snapshot are the runtime's data (domain events and a status), kept
 * as they are (`x-kubernetes-preserve-unknown-fields`) and bounded by the runtime's caps.
 */
export const reconcileJournalDefinition = (): Manifest => {
  const r = reconcileJournalResource
  const preserved = { type: "object", "x-kubernetes-preserve-unknown-fields": true }
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${r.plural}.${r.group}`,
      labels: { ...partOfLabels, "app.kubernetes.io/component": "crd", "app.kubernetes.io/version": version },
    },
    spec: {
      group: r.group,
      names: {
        kind: r.kind,
        listKind: r.listKind,
        plural: r.plural,
        singular: r.singular,
        shortNames: [...r.shortNames],
        categories: [...r.categories],
      },
      scope: "Namespaced",
      versions: [
        {
          name: r.version,
          served: true,
          storage: true,
          additionalPrinterColumns: r.printerColumns.map((c) => ({
            name: c.name,
            type: c.type,
            jsonPath: c.jsonPath,
          })),
          schema: {
            openAPIV3Schema: {
              description:
                "ReconcileJournal is the durable journal of one object's reconciles, kept by Kustodian.",
              type: "object",
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: {
                  type: "object",
                  required: ["subject", "snapshot", "compacted", "records"],
                  properties: {
                    subject: {
                      description: "The object whose reconciles this is.",
                      type: "object",
                      required: ["apiVersion", "kind", "name"],
                      properties: {
                        apiVersion: { type: "string", maxLength: 317 },
                        kind: { type: "string", maxLength: 63 },
                        name: { type: "string", maxLength: 253 },
                        uid: { type: "string", maxLength: 64 },
                      },
                    },
                    snapshot: { ...preserved, description: "The status folded from every compacted record." },
                    compacted: {
                      description: "How many reconciles the snapshot stands for.",
                      type: "integer",
                      format: "int64",
                      minimum: 0,
                    },
                    records: {
                      description: "Reconciles, oldest first: domain events, a count of identical runs.",
                      type: "array",
                      maxItems: 1000,
                      items: preserved,
                    },
                  },
                },
              },
              required: ["spec"],
            },
          },
        },
      ],
    },
  }
}

/** The CRDs Kustodian serves, with the file each is written to under `crds/`. */
export const crds: ReadonlyArray<{ readonly file: string; readonly manifest: Manifest }> = [
  {
    file: `${gitRepositoryResource.group}_${gitRepositoryResource.plural}.yaml`,
    manifest: customResourceDefinition(gitRepositoryResource, GitRepository),
  },
  {
    file: `${kustomizationResource.group}_${kustomizationResource.plural}.yaml`,
    manifest: customResourceDefinition(kustomizationResource, Kustomization),
  },
  {
    file: `${reconcileJournalResource.group}_${reconcileJournalResource.plural}.yaml`,
    manifest: reconcileJournalDefinition(),
  },
]
