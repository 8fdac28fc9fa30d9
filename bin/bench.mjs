#!/usr/bin/env node
// Runs the benchmarks from their TypeScript sources, like bin/tidemark.mjs:
// tsx compiles them on load, so `npm run bench -- ingest` needs no build step.
import { register } from 'tsx/esm/api'

register()
await import('../bench/main.ts')
