import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium, headless, with the flags this closed network needs (../shared/test-environment.md).
 * Playwright gives every launch a fresh temporary profile.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

/**
 * Chromium flags that resolve the given host names to loopback, so one test can put fedgate and a service
 * provider on really different sites (issue 14 §2: SameSite is decided by registrable domain, not by port).
 */
export function mapHostsToLoopback(hosts: string[]): string {
  return `--host-resolver-rules=${hosts.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`;
}
