// `npm run soak` only: the soak is long and timing-dependent, so it stays out of `npm test` and CI.
import { defineConfig } from 'vitest/config';

// As the app starts its engine process (main/app/index.ts); set before the test processes fork, since
// glibc reads them at process start. Set them in the environment to measure otherwise (MALLOC_ARENA_MAX=16,
// MALLOC_MMAP_THRESHOLD_= and MALLOC_TRIM_THRESHOLD_= left empty are glibc's defaults).
process.env.MALLOC_ARENA_MAX ??= '2';
process.env.MALLOC_MMAP_THRESHOLD_ ??= '131072';
process.env.MALLOC_TRIM_THRESHOLD_ ??= '131072';

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
