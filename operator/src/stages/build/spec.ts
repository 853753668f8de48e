/**
 * The part of a Kustomization's spec the build reads. Structurally a subset of
 * `kustomize.toolkit.fluxcd.io/v1` `Kustomization.spec`, so the model's decoded spec can be passed as is.
 *
 * @module
 */

/** kustomize's target selector. */
export interface Selector {
  readonly group?: string
  readonly version?: string
  readonly kind?: string
  readonly namespace?: string
  readonly name?: string
  readonly annotationSelector?: string
  readonly labelSelector?: string
}

export interface Patch {
  readonly patch: string
  readonly target?: Selector
}

export interface Image {
  readonly name: string
  readonly newName?: string
  readonly newTag?: string
  readonly digest?: string
}

export interface SubstituteReference {
  readonly kind: "Secret" | "ConfigMap"
  readonly name: string
  readonly optional?: boolean
}

export interface PostBuild {
  readonly substitute?: Readonly<Record<string, string>>
  readonly substituteFrom?: ReadonlyArray<SubstituteReference>
  readonly substituteStrategy?: "WithVariables" | "Always"
}

export interface Decryption {
  readonly provider: "sops"
  readonly secretRef?: { readonly name: string }
  readonly serviceAccountName?: string
}

export interface BuildSpec {
  readonly path?: string
  readonly targetNamespace?: string
  readonly namePrefix?: string
  readonly nameSuffix?: string
  readonly patches?: ReadonlyArray<Patch>
  readonly images?: ReadonlyArray<Image>
  readonly components?: ReadonlyArray<string>
  readonly ignoreMissingComponents?: boolean
  readonly commonMetadata?: {
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
  }
  readonly decryption?: Decryption
  readonly postBuild?: PostBuild
  /** kustomize `buildMetadata` options to enable. */
  readonly buildMetadata?: ReadonlyArray<"originAnnotations" | "transformerAnnotations">
}
