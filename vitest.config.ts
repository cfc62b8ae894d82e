import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Suites start real databases, servers and OpenTofu; two cores are the budget.
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    // build.global.ts first: dist/ is built once, before any suite, when older than its sources.
    globalSetup: ["./test/support/build.global.ts", "./test/support/leak-scan.global.ts"],
  },
});
