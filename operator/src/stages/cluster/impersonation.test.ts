import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { checkCrossNamespaceRefs, identityFor, impersonationHeaders } from "./impersonation.ts"

describe("impersonation", () => {
  it("acts as spec.serviceAccountName, else --default-service-account, else the controller", () => {
    expect(
      identityFor(
        { namespace: "team", name: "apps", serviceAccountName: "deployer" },
        { defaultServiceAccount: "d" },
      ),
    ).toEqual({
      _tag: "ServiceAccount",
      namespace: "team",
      name: "deployer",
    })
    expect(identityFor({ namespace: "team", name: "apps" }, { defaultServiceAccount: "d" })).toEqual({
      _tag: "ServiceAccount",
      namespace: "team",
      name: "d",
    })
    expect(identityFor({ namespace: "team", name: "apps" })).toEqual({ _tag: "Controller" })
    expect(impersonationHeaders({ _tag: "ServiceAccount", namespace: "team", name: "deployer" })).toEqual({
      "Impersonate-User": "system:serviceaccount:team:deployer",
    })
  })

  it.effect("refuses cross-namespace references only with --no-cross-namespace-refs", () =>
    Effect.gen(function* () {
      const spec = {
        namespace: "team",
        name: "apps",
        sourceRef: { kind: "GitRepository", name: "repo", namespace: "flux-system" },
      }
      expect(Exit.isSuccess(yield* Effect.exit(checkCrossNamespaceRefs(spec)))).toBe(true)
      const denied = yield* Effect.flip(checkCrossNamespaceRefs(spec, { noCrossNamespaceRefs: true }))
      expect(denied.reason).toBe("AccessDenied")
      expect(denied.retryable).toBe(false)
      expect(denied.terminal).toBe(true)
      expect(denied.message).toBe(
        "cross-namespace references are not allowed (--no-cross-namespace-refs): GitRepository 'repo' in namespace 'flux-system'",
      )
      const deps = { ...spec, dependsOn: [{ name: "infra", namespace: "platform" }, { name: "local" }] }
      const both = yield* Effect.flip(checkCrossNamespaceRefs(deps, { noCrossNamespaceRefs: true }))
      expect(both.message).toBe(
        "cross-namespace references are not allowed (--no-cross-namespace-refs): GitRepository 'repo' in namespace 'flux-system', dependency 'infra' in namespace 'platform'",
      )
      expect(both.object).toMatchObject({ kind: "Kustomization", namespace: "team", name: "apps" })
      const same = { ...spec, sourceRef: { kind: "GitRepository", name: "repo", namespace: "team" } }
      expect(
        Exit.isSuccess(yield* Effect.exit(checkCrossNamespaceRefs(same, { noCrossNamespaceRefs: true }))),
      ).toBe(true)
    }),
  )
})
