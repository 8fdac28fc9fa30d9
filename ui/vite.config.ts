// Builds the dashboard into ui/dist, which the query tier serves at /.
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { defineConfig, type Plugin } from 'vite'

/**
 * The dashboard's weight budget, gzipped JS and CSS together: uPlot (about 21 kB) and our own code, no
 * framework. The README states it; a build over it fails rather than growing unnoticed.
 */
export const BUNDLE_BUDGET_GZIP_KB = 60

function bundleBudget(): Plugin {
  return {
    name: 'tidemark-bundle-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      let gzipBytes = 0
      for (const file of Object.values(bundle)) {
        if (!/\.(js|css)$/.test(file.fileName)) continue
        gzipBytes += gzipSync(file.type === 'chunk' ? file.code : file.source).length
      }
      const kb = gzipBytes / 1024
      const line = `dashboard bundle: ${kb.toFixed(1)} kB gzip (JS + CSS), budget ${BUNDLE_BUDGET_GZIP_KB} kB`
      if (kb > BUNDLE_BUDGET_GZIP_KB) this.error(`${line}: over budget`)
      // Beside Vite's per-file table: the one figure the budget is about.
      console.log(line)
    },
  }
}

export default defineConfig({
  // Resolved from this file, not the working directory: `npm run build:ui` and the browser test build alike.
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true },
  plugins: [bundleBudget()],
})
