/**
 * The token-signing key lifecycle of one node: its ring (reloaded from keys.dir on a timer) and, when keys.dir is
 * writable and keys.rollover.auto is on, the in-process rollover check every checkIntervalMinutes (AD FS's
 * CertificateRolloverInterval), under the farm lock. A read-only keys.dir (a mounted secret) is rolled over by
 * `fedgate keys rollover --if-due` from a CronJob that can write it; the nodes pick the change up by reloading.
 */
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Clock } from '../lib/clock.ts';
import type { ArtifactStore } from '../stores/types.ts';
import type { KeyRing } from './ring.ts';
import {
  bootstrapHsmPrimary,
  generateNextNow,
  importKey,
  promoteNow,
  rolloverIfDue,
} from './rollover.ts';
import type { ImportRequest, KeyChangeEvent, RolloverResult } from './rollover.ts';
import type { RolloverSettings } from './rollover-plan.ts';
import type { HsmAdapter } from './ring.ts';

export interface KeyLifecycleOptions {
  ring: KeyRing;
  hostname: string;
  clock: Clock;
  store: ArtifactStore;
  settings: RolloverSettings;
  passphrase?: string | undefined;
  hsm?: HsmAdapter | undefined;
  onChange(e: KeyChangeEvent): void;
  log: { info(o: object, m: string): void; error(o: object, m: string): void };
}

export class KeyLifecycle {
  readonly ring: KeyRing;
  readonly #o: KeyLifecycleOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: KeyLifecycleOptions) {
    this.#o = opts;
    this.ring = opts.ring;
  }

  get settings(): RolloverSettings {
    return this.#o.settings;
  }

  #ctx(by: 'auto' | 'cli') {
    return {
      dir: this.ring.dir,
      hostname: this.#o.hostname,
      clock: this.#o.clock,
      settings: this.#o.settings,
      store: this.#o.store,
      by,
      passphrase: this.#o.passphrase,
      hsm: this.#o.hsm,
      onChange: (e: KeyChangeEvent) => {
        this.#o.onChange(e);
      },
    };
  }

  /** Whether this node rolls keys over itself: auto on, keys fedgate manages, and a keys.dir it can write. */
  async autoEnabled(): Promise<boolean> {
    if (!this.#o.settings.auto || this.ring.managedByAdmin) return false;
    try {
      await access(this.ring.dir, fsConstants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * With keys.pkcs11 and an empty keys.dir, generates the first primary inside the HSM (before the ring loads).
   * Another node starting at the same moment waits for the first one's manifest.
   */
  async bootstrap(): Promise<void> {
    if (this.#o.hsm === undefined || this.ring.managedByAdmin) return;
    for (let i = 0; i < 50; i++) {
      const r = await bootstrapHsmPrimary(this.#ctx('auto'));
      if (r.status === 'done') return;
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  /** Applies whatever rollover step is due, then reloads the ring so this node serves the result at once. */
  async runIfDue(by: 'auto' | 'cli' = 'auto'): Promise<RolloverResult> {
    const r = await rolloverIfDue(this.#ctx(by));
    if (r.status === 'done' && r.changes.length > 0) await this.ring.refresh(true);
    return r;
  }

  async generateNow(by: 'auto' | 'cli' = 'cli'): Promise<RolloverResult> {
    const r = await generateNextNow(this.#ctx(by));
    await this.ring.refresh(true);
    return r;
  }

  async promoteNow(by: 'auto' | 'cli' = 'cli'): Promise<RolloverResult> {
    const r = await promoteNow(this.#ctx(by));
    await this.ring.refresh(true);
    return r;
  }

  async import(req: ImportRequest, by: 'auto' | 'cli' = 'cli'): Promise<RolloverResult> {
    const r = await importKey(this.#ctx(by), req);
    await this.ring.refresh(true);
    return r;
  }

  /**
   * Starts the node's timers: the ring's reload every `reloadMs`, and (when autoEnabled) a rollover check now and
   * every checkIntervalMinutes. A failed check is logged and retried at the next interval.
   */
  async start(reloadMs: number): Promise<void> {
    this.ring.start(reloadMs);
    if (!(await this.autoEnabled())) {
      if (this.#o.settings.auto && !this.ring.managedByAdmin)
        this.#o.log.info(
          { dir: this.ring.dir },
          'keys.dir is not writable: token-signing rollover is left to `fedgate keys rollover --if-due` (README, Operations)',
        );
      return;
    }
    const check = (): Promise<void> =>
      this.runIfDue('auto').then(
        () => undefined,
        (err: unknown) => {
          this.#o.log.error(
            { event: 'key_rollover_failed', reason: err instanceof Error ? err.message : String(err) },
            'token-signing rollover check failed; retried at the next interval',
          );
        },
      );
    // The first check is awaited, as AD FS checks when its service starts: a node started close to expiry
    // publishes (or, within the critical threshold, signs with) the next key before it serves anything.
    await check();
    this.#timer = setInterval(() => void check(), this.#o.settings.checkIntervalMinutes * 60_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.ring.close();
  }
}
