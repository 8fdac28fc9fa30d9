#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx compiles them on load, cached), so
// there is no build step between a checkout and `npm start`.
import { register } from 'tsx/esm/api'

register()
await import('../cli/main.ts')
