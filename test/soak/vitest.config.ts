// `npm run soak` only: the soak is long and timing-dependent, so it stays out of `npm test` and CI.
import { defineConfig } from 'vitest/config';

// As the app starts its engine process (main/app/index.ts); set before the test processes fork, since
// glibc reads it at process start. MALLOC_ARENA_MAX=8 (or unset) in the environment measures without it.
process.env.MALLOC_ARENA_MAX ??= '2';

export default defineConfig({
  test: {
    include: ['test/soak/**/*.soak.ts'],
    pool: 'forks',
    // The soak reads RSS after full GCs (see soak.soak.ts).
    execArgv: ['--expose-gc'],
    testTimeout: 6 * 3600_000,
    hookTimeout: 600_000,
  },
});
