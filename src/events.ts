/** Event emission that isolates listeners from each other and from the emitter's state. */

import type { EventEmitter } from 'node:events';

/**
 * Calls every listener of `event` with `args`, each on its own: one that throws is reported to
 * `failed` and neither the others nor the caller are affected. `once` listeners are removed as
 * usual (their wrappers are what rawListeners returns).
 */
export function callListeners(
  emitter: EventEmitter,
  event: string,
  args: readonly unknown[],
  failed: (error: unknown) => void,
): void {
  for (const l of emitter.rawListeners(event)) {
    try {
      Reflect.apply(l, emitter, args);
    } catch (e) {
      failed(e);
    }
  }
}
