// `npm run soak` only: the soak is long and timing-dependent, so it stays out of `npm test` and CI.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/soak/**/*.soak.ts'],
    pool: 'forks',
    testTimeout: 6 * 3600_000,
    hookTimeout: 600_000,
  },
});
