import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["operator/**/*.test.ts", "model/**/*.test.ts", "synth/**/*.test.ts", "e2e/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 300_000,
  },
})
