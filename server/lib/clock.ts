/** Injected time source. Production uses the system clock; tests freeze or advance it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests can set and advance without sleeping. */
export class FixedClock implements Clock {
  #ms: number;
  constructor(start: Date | string | number = Date.UTC(2026, 0, 15, 10, 0, 0)) {
    this.#ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
  set(at: Date | string | number): void {
    this.#ms = new Date(at).getTime();
  }
}
