import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Both cores: vitest's default for \`run\` is one worker fewer than the CPUs, a single worker
    // on the 2-core CI VM, which left one core idle for most of the suite.
    maxWorkers: 2,
    // Files share their worker's module cache (tfjs, onnxruntime and the wasm kernels load once
    // per worker instead of once per file); no test relies on a fresh module state.
    isolate: false,
  },
});
