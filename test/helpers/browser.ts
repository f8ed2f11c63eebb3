import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** The system Chromium (Debian package `chromium`); browser tests skip without it, except under CI. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM_PATH);

export function requireChromiumUnlessSkipped(what: string): boolean {
  if (hasChromium) return true;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM_PATH} is required under CI for ${what}`);
  console.warn(`SKIP ${what}: ${CHROMIUM_PATH} is missing (apt-get install -y chromium).`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 60_000,
  });
}
