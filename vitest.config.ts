import { defineConfig } from 'vitest/config';

/**
 * Two projects:
 * - unit: pure tests on real captured Debezium messages (test/fixtures/debezium), no engines.
 * - integration: against the real engines found by test/helpers/global-setup.ts (native stack or
 *   testcontainers). Files run one at a time: the machine has 2 cores and one shared stack.
 */
export default defineConfig({
  test: {
    // Root-level only in vitest 3: one file at a time for both projects (unit files are quick).
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
