import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The fault suite (test/faults): not part of `npm test`. `npm run test:faults` (short form, CI)
 * and `npm run test:faults:full` (FAULTS_FORM=full). Same engine discovery as the integration
 * project (test/helpers/global-setup.ts); one file, its scenarios one after another.
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    name: 'faults',
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
  },
});
