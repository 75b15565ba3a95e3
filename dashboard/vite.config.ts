import { defineConfig } from 'vite';

// Relative asset paths, so the built files work from any bucket prefix or local path.
export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  test: { include: ['src/**/*.test.ts'] },
});
