// The browser the dashboard test drives: the system Chromium, headless. A
// missing browser fails the test loudly; skipping would pass with nothing checked.
import fs from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

const CHROMIUM_PATH = process.env.TIDEMARK_CHROMIUM ?? '/usr/bin/chromium'

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`No Chromium at ${CHROMIUM_PATH}: the dashboard test needs a real browser. Install it (apt-get install chromium) or set TIDEMARK_CHROMIUM to its path.`)
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // No sandbox in containers; no GPU, QUIC or background traffic to slow or disturb a headless run.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}
