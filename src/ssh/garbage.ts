import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A build that prints 50 MB reaches the runner as thousands of short-lived
 * Buffers (each SSH packet, ciphered then deciphered). V8 counts their bytes
 * outside its heap and collects them late, so 20 to 40 MB of dead Buffers
 * pile up. A collection every 4 MB of output frees them: measured on a 50 MB
 * build log, peak RSS 98 to 102 MiB instead of 104 to 127 (a young-generation
 * collection is not enough: many of them have already been promoted). It
 * costs a few ms per collection, nothing for the usual few KB of output.
 * The `gc` function is exposed the way test runners do it (Jest's heap
 * logging): set the flag, then take `gc` from a fresh context. Where that
 * fails, V8's own schedule applies.
 */
export const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

type Gc = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;
let gc: Gc | null | undefined;

function exposedGc(): Gc | null {
  if (gc !== undefined) return gc;
  try {
    setFlagsFromString('--expose-gc');
    const found: unknown = runInNewContext('typeof gc === "function" ? gc : null');
    gc = typeof found === 'function' ? (found as Gc) : null;
  } catch {
    gc = null;
  }
  return gc;
}

/** Counts relayed bytes and collects garbage every COLLECT_EVERY_BYTES. */
export class GarbageCollector {
  private bytes = 0;
  add(n: number): void {
    this.bytes += n;
    if (this.bytes < COLLECT_EVERY_BYTES) return;
    this.bytes = 0;
    exposedGc()?.({ type: 'major' });
  }
}
