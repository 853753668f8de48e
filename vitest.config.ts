import { defineConfig } from "vitest/config"

// Two projects: `unit` never needs a cluster; `e2e` (files named *.e2e.test.ts) gets one control plane per run
// from the global setup, which exports KUSTODIAN_TEST_KUBECONFIG. vitest runs a project's global setup only when
// that project has test files selected, so `npx vitest run operator/...` starts nothing.
const roots = ["operator", "model", "synth", "e2e", "scripts"]

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 300_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: roots.map((r) => `${r}/**/*.test.ts`),
          exclude: ["**/node_modules/**", "**/*.e2e.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: roots.map((r) => `${r}/**/*.e2e.test.ts`),
          exclude: ["**/node_modules/**"],
          globalSetup: ["e2e/cluster/global-setup.ts"],
        },
      },
    ],
  },
})
