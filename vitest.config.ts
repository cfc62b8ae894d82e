import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // expectTypeOf asserts nothing at run time: type-level tests (*.test-d.ts) are run through
    // the compiler, so a wrong type fails the run like any other test.
    typecheck: { enabled: true, include: ["test/**/*.test-d.ts"], tsconfig: "./test/tsconfig.type-tests.json" },
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
