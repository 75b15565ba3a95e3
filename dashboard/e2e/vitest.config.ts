import { defineConfig } from 'vitest/config';

// The browser test: one long scenario against a real `boreas dev`, in headless Chromium.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
