import { existsSync } from 'node:fs';
import { skippedSuites } from '../support/services.ts';

/** Debian's package puts it here; CHROMIUM_PATH points elsewhere. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Call in a suite's `before`: Chromium's path, or the suite is skipped saying why — except in CI,
 * which installs Chromium, so there a missing browser fails the run (as requireService does).
 */
export function requireChromium(context: Mocha.Context): string {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const why = `browser suite skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(`${why} (a skipped suite fails CI)`);
  skippedSuites.add(why);
  context.skip();
}
