import { AssertionError } from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';

/** A free loopback TCP port (bound, then released), for servers a test starts on a port of its own. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => {
        ok(port);
      });
    });
  });
}

export interface WaitOptions {
  /** Give up after this long (default 10 s: generous, so a loaded CI machine never trips it). */
  timeoutMs?: number;
  /** Time between checks (default 25 ms). */
  intervalMs?: number;
}

/**
 * Polls `check` until it returns true, instead of sleeping a fixed time (house rule: no fixed sleeps). When the
 * bound runs out it fails with an AssertionError naming `what` (a function is called then, to show the state at
 * that moment), so a condition that never comes true is a test failure, not a hang. The bound is a safety net, not
 * an assertion on timing.
 */
export async function waitUntil(
  what: string | (() => string),
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, intervalMs = 25 }: WaitOptions = {},
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() >= deadline)
      throw new AssertionError({
        message: `timed out after ${timeoutMs} ms waiting until ${typeof what === 'string' ? what : what()}`,
      });
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
