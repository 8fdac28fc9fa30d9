// Builds the dashboard into ui/dist, which the query tier serves at /.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  // Resolved from this file, not the working directory: `npm run build:ui` and the browser test build alike.
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true },
})
